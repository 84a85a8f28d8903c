"""The plumbing every Fovea web app is built on.

An app factory calls, in this order::

    configure_app(app, WebSettings(...))        # cookies, CSRF lifetime, body limit, layout
    init_security(app, login_manager, csrf, load_user)
    register_error_pages(app, wants_json)       # 400/403/404/413/500 in the house style
    log_requests(app, log)                      # one line per request, no patient data

Each app keeps its own :class:`~flask_login.LoginManager` (its user loader is
its own), its own session cookie name and its own secret key: a cookie of one
app means nothing to another.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from flask import Blueprint, Flask, Response, current_app, g, jsonify, render_template, request
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

__all__ = ["CONTENT_SECURITY_POLICY", "WebSettings", "configure_app", "error_page",
           "init_security", "log_requests", "register_error_pages", "security_headers"]

CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; "
                           "frame-ancestors 'none'; form-action 'self'")
#: app.extensions key: origins a form of the app may end up at (browsers apply
#: form-action to the redirects that follow a submission too).
FORM_TARGETS_KEY = "fovea_form_targets"

#: The shared layout (``fovea/layout.html``), form macros (``fovea/forms.html``) and
#: stylesheet (``fovea_web.static``, ``fovea.css``) every app's pages build on.
web_blueprint = Blueprint("fovea_web", __name__, template_folder="templates",
                          static_folder="static", static_url_path="/fovea-static")

#: Each error page's heading where the exception's own name says too little.
_TITLES = {400: "The request was not understood", 403: "Not allowed",
           404: "Not found", 405: "Not allowed here", 413: "Too large",
           429: "Too many attempts", 500: "Something went wrong",
           503: "A service is not answering"}


@dataclass(frozen=True)
class WebSettings:
    """The settings an app's cookies and forms take from its configuration.

    Attributes:
        cookie_name: the session cookie's name, one per app.
        home: the endpoint and words of the link an error page offers back.
        secret_key: signs the session cookie and CSRF tokens, one per app.
        secure_cookies: send cookies over HTTPS only (set when served over HTTPS).
        session_lifetime: how long a log-in lasts.
        max_content_length: the largest request body accepted (413 beyond it).
        testing: Flask's testing mode.
    """

    cookie_name: str
    secret_key: str
    home: tuple[str, str] = ("auth.home", "Back to the start page")
    secure_cookies: bool = False
    session_lifetime: timedelta = timedelta(hours=8)
    max_content_length: int | None = None
    testing: bool = False


def configure_app(app: Flask, settings: WebSettings) -> None:
    """Cookie, session and CSRF settings that every app shares, and the shared layout."""
    app.register_blueprint(web_blueprint)
    app.jinja_env.globals.update(home_endpoint=settings.home[0], home_label=settings.home[1])
    secure = settings.secure_cookies
    app.config.update(
        SECRET_KEY=settings.secret_key,
        TESTING=settings.testing,
        SESSION_COOKIE_NAME=settings.cookie_name,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=settings.session_lifetime,
        WTF_CSRF_TIME_LIMIT=int(settings.session_lifetime.total_seconds()),
        WTF_CSRF_SSL_STRICT=True,
        MAX_CONTENT_LENGTH=settings.max_content_length,
    )


def security_headers(response: Response) -> Response:
    """Headers every answer gets (OWASP Secure Headers Project)."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    targets = current_app.extensions.get(FORM_TARGETS_KEY, ())
    policy = CONTENT_SECURITY_POLICY + "".join(f" {origin}" for origin in targets)
    response.headers.setdefault("Content-Security-Policy", policy)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if request.endpoint and not request.endpoint.startswith("static"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_security(app: Flask, login_manager: LoginManager, csrf: CSRFProtect,
                  load_user: Callable[[str], Any], login_view: str = "auth.login",
                  form_targets: Sequence[str] = ()) -> None:
    """Bind log-in, CSRF protection and the security headers to ``app``.

    ``load_user`` gets the id the session holds (a sign-on token, never a
    bare account number) and returns the user, or ``None`` when that
    session has ended. ``form_targets`` are other origins a submitted form
    may be redirected to (the EMR's log-in continues to the app that asked).
    """
    app.extensions[FORM_TARGETS_KEY] = tuple(form_targets)
    login_manager.init_app(app)
    login_manager.login_view = login_view
    login_manager.login_message = "Please log in to see this page."
    # Sessions are permanent, for which flask-login's "strong" mode acts as "basic":
    # a session whose browser fingerprint changed is no longer fresh.
    login_manager.session_protection = "basic"
    login_manager.user_loader(load_user)
    csrf.init_app(app)
    app.after_request(security_headers)


def error_page(status: int, title: str | None = None, message: str = "") -> tuple[str, int]:
    """An error page (``fovea/error.html``, in the app's own layout) with ``status``."""
    return render_template("fovea/error.html", status=status,
                           title=title or _TITLES.get(status, ""), message=message), status


def register_error_pages(app: Flask, wants_json: Callable[[], bool] = lambda: False,
                         log: Any = None,
                         json_error: Callable[[HTTPException], Any] | None = None) -> None:
    """HTML error pages for people, JSON errors where ``wants_json()`` says so
    (in the app's own form when it gives ``json_error``).

    An app with more specific handlers (its domain errors, a 413 that says
    what the upload limit is) registers them after this call.
    """
    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> Any:
        if log is not None:
            log.warning("CSRF check failed", route=str(request.url_rule or "-"))
        if wants_json():
            return _json_error(400, "csrf", "missing or expired security token")
        return error_page(400, "The form has expired",
                          "The form was not accepted (missing or expired security token). "
                          "Go back, reload the page and try again.")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        status = exc.code or 500
        if wants_json():
            if json_error is not None:
                return json_error(exc)
            return _json_error(status, (exc.name or "error").lower().replace(" ", "_"),
                               exc.description or "")
        return error_page(status, _TITLES.get(status, exc.name), exc.description or "")


def _json_error(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify(error={"code": code, "message": message}), status


def log_requests(app: Flask, log: Any, user_of: Callable[[Any], Any] | None = None) -> None:
    """One line per request: method, route, status, time and who; no query string, no
    patient data (a query string can carry a searched name or MRN)."""
    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()

    @app.teardown_request
    def forget_correlation(_: BaseException | None) -> None:
        structlog.contextvars.clear_contextvars()

    @app.after_request
    def log_request(response: Response) -> Response:
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        static = (request.endpoint or "").endswith("static")
        user = None if static else current_user._get_current_object()
        who = user_of(user) if user_of and getattr(user, "is_authenticated", False) else None
        log.info("request", method=request.method, route=str(request.url_rule or "-"),
                 status=response.status_code, ms=round(elapsed * 1000, 1), user_id=who)
        return response
