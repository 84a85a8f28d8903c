"""The application factory: :func:`create_app` builds one EMR app from a configuration."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import structlog
from flask import Flask, request
from flask_login import current_user

from emr.audit import protect_audit_log
from emr.blueprints import register_blueprints
from emr.blueprints.api import error_response, http_error_response
from emr.cli import register_commands
from emr.config import EmrConfig, load_config
from emr.database import init_database
from emr.exceptions import EmrError, ValidationError
from emr.forms import CsrfForm
from emr.migrate import upgrade
from emr.monitoring import count_commits
from emr.security import init_security, may
from emr.states import OrderState
from emr.web import CONFIG_KEY, local
from imaging_common.logs import (CORRELATION_HEADER, configure_logging, correlate,
                                 correlation_from_header, get_logger)
from imaging_common.web.foundation import (WebSettings, configure_app, error_page, log_requests,
                                           register_error_pages)
from imaging_common.web_metrics import init_metrics

__all__ = ["configure_emr_logging", "create_app"]

log = get_logger("emr")

#: Request bodies larger than this are refused (413) before they are read.
MAX_BODY_OVERHEAD = 256 * 1024


def create_app(config: EmrConfig | None = None) -> Flask:
    """Build the EMR app.

    Args:
        config: the configuration; read from the environment and the network
            file (:func:`emr.config.load_config`) when ``None``, as
            ``flask --app emr`` does.
    """
    if config is None:  # started by ``flask --app emr``: this is the entry point
        config = load_config()
        configure_emr_logging(config.log_format)
    app = Flask(__name__)
    _flask_settings(app, config)
    app.extensions[CONFIG_KEY] = config
    database = init_database(app, config.database_url)
    count_commits(database.sessions)
    if config.auto_migrate:
        upgrade(database.engine)
    protect_audit_log()
    _request_log(app)
    init_metrics(app)  # GET /metrics, no log-in: Prometheus scrapes it
    init_security(app)
    register_blueprints(app)
    register_commands(app)
    _error_handlers(app)
    _templates(app)
    return app


def configure_emr_logging(log_format: str) -> None:
    """Configure logging for an EMR process (an entry point calls this once)."""
    configure_logging(log_format)
    # Werkzeug's access log writes whole URLs, whose query strings can carry a
    # searched name or MRN; the app logs each request's route instead.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _flask_settings(app: Flask, config: EmrConfig) -> None:
    configure_app(app, WebSettings(
        cookie_name="fovea_emr_session", secret_key=config.secret_key,
        secure_cookies=config.session_cookie_secure, session_lifetime=config.session_lifetime,
        # A result carries a base64 picture (4/3 of its size) per photograph: two at
        # the largest, or up to a dozen at the AI node's 512 px (some 0.3 MB each).
        max_content_length=3 * config.max_heatmap_bytes + MAX_BODY_OVERHEAD,
        testing=config.environment == "testing"))
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the documented order


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _error_handlers(app: Flask) -> None:
    register_error_pages(app, _wants_json, log, json_error=http_error_response)

    @app.errorhandler(EmrError)
    def domain_error(exc: EmrError) -> Any:
        if _wants_json():
            fields = exc.fields if isinstance(exc, ValidationError) else None
            return error_response(exc.status, exc.code, str(exc), fields)
        return error_page(exc.status, "Not possible", str(exc))

    @app.errorhandler(PermissionError)
    def forbidden(exc: PermissionError) -> Any:
        if _wants_json():
            return error_response(403, "forbidden", str(exc))
        return error_page(403, "Forbidden", str(exc))


def _format_time(moment: datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
    shown = local(moment)
    return shown.strftime(pattern) if shown else ""


def _templates(app: Flask) -> None:
    app.jinja_env.filters["local"] = _format_time
    app.jinja_env.globals.update(may=may, OrderState=OrderState)

    @app.context_processor
    def layout() -> dict[str, Any]:
        logged_in = bool(getattr(current_user, "is_authenticated", False))
        return {"logout_form": CsrfForm() if logged_in else None}


def _request_log(app: Flask) -> None:
    """One line per request (:func:`imaging_common.web.foundation.log_requests`), with
    the correlation ids a caller sent (the AI node's job, an accession number) on every
    line of it; the order's own are added where the request finds the order."""
    @app.before_request
    def correlate_request() -> None:
        structlog.contextvars.clear_contextvars()
        correlate(**correlation_from_header(request.headers.get(CORRELATION_HEADER)))

    log_requests(app, log, lambda user: user.id)
