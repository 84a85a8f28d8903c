"""The application factory: :func:`create_app` builds the station's web app."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Flask, request
from flask_login import current_user
from pynetdicom import AE
from werkzeug.exceptions import RequestEntityTooLarge

from imaging_common.dimse import make_ae
from imaging_common.logs import configure_logging, get_logger
from imaging_common.web.foundation import (WebSettings, configure_app, error_page, log_requests,
                                           register_error_pages)
from imaging_common.web_metrics import init_metrics
from modality_scu.blueprints import register_blueprints
from modality_scu.config import StationConfig, load_config
from modality_scu.database import init_database, open_database
from modality_scu.forms import CsrfForm
from modality_scu.holding import HoldingArea
from modality_scu.models import ImageState, ProcedureState
from modality_scu.outbox import Outbox
from modality_scu.security import init_security
from modality_scu.sender import OutboxSender
from modality_scu.thumbnails import ThumbnailStore
from modality_scu.web import CONTEXT_KEY, StationContext, local

__all__ = ["configure_station_logging", "create_app"]

log = get_logger("modality_scu")


def create_app(config: StationConfig | None = None,
               ae_factory: Callable[[], AE] | None = None) -> Flask:
    """Build the station's app; its outbox sender is made but not started.

    Args:
        config: the configuration; read from the environment and the network
            file (:func:`modality_scu.config.load_config`) when ``None``, as
            ``flask --app modality_scu`` does.
        ae_factory: makes the AE of each association (the station's own AE by default).
    """
    if config is None:  # started by ``flask --app modality_scu``: this is the entry point
        config = load_config()
        configure_station_logging(config.settings.log_format)
    app = Flask(__name__)
    _flask_settings(app, config)
    config.settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = open_database(config.settings.database_url)
    init_database(app, db)
    factory = ae_factory or (lambda: make_ae(config.settings))
    outbox = Outbox(config.outbox_dir, fsync=config.settings.fsync)
    app.extensions[CONTEXT_KEY] = StationContext(
        config=config, outbox=outbox, sender=OutboxSender(config, db, outbox, factory),
        ae_factory=factory, holding=HoldingArea(config.holding_dir),
        thumbnails=ThumbnailStore(config.thumbnails_dir))
    log_requests(app, log, lambda person: person.username)
    init_metrics(app)  # GET /metrics, no log-in: Prometheus scrapes it
    init_security(app, config.sign_on)
    register_blueprints(app)
    _error_handlers(app, config)
    _templates(app)
    return app


def configure_station_logging(log_format: str) -> None:
    """Configure logging for a station process (an entry point calls this once)."""
    configure_logging(log_format)
    # Werkzeug's access log writes whole URLs; the app logs each request's route.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def _flask_settings(app: Flask, config: StationConfig) -> None:
    configure_app(app, WebSettings(
        cookie_name="fovea_station_session", secret_key=config.secret_key,
        home=("auth.home", "Back to the worklist"),
        secure_cookies=config.session_cookie_secure, session_lifetime=config.session_lifetime,
        max_content_length=config.max_request_bytes,
        testing=config.environment == "testing"))
    # Werkzeug keeps small form parts in memory; the files spill to disk.
    app.config["MAX_FORM_MEMORY_SIZE"] = 1024 * 1024


def _error_handlers(app: Flask, config: StationConfig) -> None:
    register_error_pages(app, log=log)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc: RequestEntityTooLarge) -> tuple[str, int]:
        log.warning("upload refused", reason="too_large", route=str(request.url_rule or "-"))
        limit = config.max_upload_bytes / 1048576
        return error_page(413, "The upload is too large",
                          f"Nothing was sent. Each photograph may be at most {limit:g} MB, and "
                          f"an examination at most {config.max_images_per_eye} photographs per "
                          f"eye. Go back and choose smaller files.")


def _format_time(moment: datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
    shown = local(moment)
    return shown.strftime(pattern) if shown else ""


def _dicom_date(value: str) -> str:
    """``YYYYMMDD`` as ``YYYY-MM-DD`` (as it is when it is not a DICOM date)."""
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if len(value) == 8 else value


def _dicom_time(value: str) -> str:
    """``HHMM[SS]`` as ``HH:MM``."""
    return f"{value[:2]}:{value[2:4]}" if len(value) >= 4 else value


def _person_name(value: str) -> str:
    """A DICOM person name (``Family^Given^Middle^Prefix^Suffix``) as "Family, Given Middle"."""
    parts = [p.strip() for p in str(value).split("=")[0].split("^")]
    family, given = parts[0], " ".join(p for p in parts[1:3] if p)
    return f"{family}, {given}" if family and given else family or given


def _templates(app: Flask) -> None:
    app.jinja_env.filters.update(local=_format_time, dicom_date=_dicom_date,
                                 dicom_time=_dicom_time, person_name=_person_name)
    app.jinja_env.globals.update(ProcedureState=ProcedureState, ImageState=ImageState)

    @app.context_processor
    def layout() -> dict[str, Any]:
        logged_in = bool(getattr(current_user, "is_authenticated", False))
        # No form data: the logout button must not read the request (a 413 page).
        return {"logout_form": CsrfForm(formdata=None) if logged_in else None}
