"""Log-in, CSRF protection and the security headers of every page."""

from __future__ import annotations

from flask import Flask, Response, request
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from modality_scu.database import session
from modality_scu.models import Operator

__all__ = ["csrf", "init_security", "login_manager"]

login_manager = LoginManager()
csrf = CSRFProtect()


def _load_operator(operator_id: str) -> Operator | None:
    if not operator_id.isdigit():
        return None
    operator = session().get(Operator, int(operator_id))
    return operator if operator is not None and operator.active else None


def _security_headers(response: Response) -> Response:
    """Headers every page gets (OWASP Secure Headers Project)."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'")
    if request.endpoint and not request.endpoint.startswith("static"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_security(app: Flask) -> None:
    """Bind log-in, CSRF protection and the security headers to ``app``."""
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to see this page."
    login_manager.session_protection = "basic"
    login_manager.user_loader(_load_operator)
    csrf.init_app(app)
    app.after_request(_security_headers)
