"""The AI node's web page for nurses: pending prescriptions, Run, live job status.

:func:`create_app` is the application factory; the extensions (log-in, CSRF)
are created in :mod:`ai_node.web.security` and bound here. Blueprints:
:mod:`~ai_node.web.auth` (signing on through the EMR, logging out) and :mod:`~ai_node.web.pages`
(the list, Run, Run all, ``status.json``), :mod:`~ai_node.web.ops`
(``/healthz``); ``/metrics`` comes from :func:`imaging_common.web_metrics.init_metrics`,
with the queue's collector. Nothing here imports the model.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask, jsonify, redirect, request, url_for
from flask_login import current_user

from imaging_common.exceptions import ConfigError
from imaging_common.logs import get_logger
from imaging_common.web.foundation import (WebSettings, configure_app, log_requests,
                                           register_error_pages)
from imaging_common.web_metrics import init_metrics

from ai_node.config import AiConfig
from ai_node.dispatch import Dispatcher
from ai_node.monitoring import QueueCollector
from ai_node.stages import Stage
from ai_node.web import auth, ops, pages
from ai_node.web.context import CONTEXT_KEY, WebContext
from ai_node.web.forms import CsrfForm
from ai_node.web.security import init_security, login_manager

__all__ = ["SESSION_LIFETIME", "create_app"]

log = get_logger(__name__)

#: A log-in lasts one working day, as in the EMR.
SESSION_LIFETIME = timedelta(hours=8)
#: As the EMR asks of its own key in production.
MIN_SECRET_LENGTH = 32


def create_app(config: AiConfig, dispatcher: Dispatcher, testing: bool = False) -> Flask:
    """Build the page's app for one node.

    Args:
        config: the node's configuration (its secret key signs the sessions; nurses
            sign on through the EMR it names).
        dispatcher: the queue and the EMR client.
        testing: Flask's testing mode (errors propagate to the test client).

    Raises:
        ConfigError: the configuration has no secret key, or no sign-on secret.
    """
    if len(config.secret_key) < MIN_SECRET_LENGTH:
        raise ConfigError(f"the page needs a secret key of at least {MIN_SECRET_LENGTH} "
                          "characters (FOVEA_AI_SECRET_KEY)")
    app = Flask(__name__)
    configure_app(app, WebSettings(cookie_name="fovea_ai_session", secret_key=config.secret_key,
                                   home=("pages.index", "Back to the list"),
                                   session_lifetime=SESSION_LIFETIME,
                                   max_content_length=64 * 1024, testing=testing))
    app.extensions[CONTEXT_KEY] = WebContext(config, dispatcher)
    log_requests(app, log, lambda person: person.username)
    init_metrics(app, QueueCollector(dispatcher, config))
    init_security(app, config.sign_on)
    app.register_blueprint(auth.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(ops.bp)
    _error_handlers(app)
    _templates(app)
    return app


def _wants_json() -> bool:
    return request.path.endswith(".json")


def _error_handlers(app: Flask) -> None:
    register_error_pages(app, _wants_json, log)

    @login_manager.unauthorized_handler
    def unauthorized() -> Any:
        if _wants_json():
            return jsonify(error={"code": "unauthorized", "message": "log in first"}), 401
        return redirect(url_for("auth.login", next=request.path))


def _templates(app: Flask) -> None:
    app.jinja_env.globals.update(Stage=Stage)

    @app.context_processor
    def layout() -> dict[str, Any]:
        logged_in = bool(getattr(current_user, "is_authenticated", False))
        return {"logout_form": CsrfForm() if logged_in else None}
