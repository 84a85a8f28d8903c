"""Who may do what on the web pages: roles, permissions, and the request's actor.

Permissions are granted to roles in one table, :data:`PERMISSIONS`; views ask
for a permission with :func:`require`, never for a role. Services on the REST
API have scopes instead (:mod:`emr.blueprints.api`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import Flask, Response, abort, request
from flask_login import LoginManager, current_user, login_required
from flask_wtf.csrf import CSRFProtect

from emr.audit import Actor
from emr.database import session
from emr.models import Role, User

__all__ = ["PERMISSIONS", "csrf", "current_actor", "init_security", "login_manager",
           "may", "require"]

login_manager = LoginManager()
csrf = CSRFProtect()

N, T, O, A = Role.NURSE, Role.TECHNICIAN, Role.OPHTHALMOLOGIST, Role.ADMIN

#: Each permission and the roles that hold it. Administrators manage accounts and
#: read the audit log; they see aggregate figures but no patient's record.
PERMISSIONS: dict[str, frozenset[Role]] = {
    "patients.view": frozenset({N, T, O}),
    "patients.edit": frozenset({N}),
    "orders.view": frozenset({N, T, O}),
    "orders.create": frozenset({N}),
    "orders.discontinue": frozenset({N}),
    "reports.view": frozenset({N, O}),
    "reports.review": frozenset({O}),
    "labels.export": frozenset({O, A}),
    "recall.view": frozenset({N, O}),
    "referrals.acknowledge": frozenset({N}),
    "dashboard.view": frozenset({N, O, A}),
    "users.manage": frozenset({A}),
    "audit.view": frozenset({A}),
}

P = ParamSpec("P")
R = TypeVar("R")


def may(permission: str, user: object = None) -> bool:
    """Whether ``user`` (the current user by default) holds ``permission``."""
    user = current_user if user is None else user
    role = getattr(user, "role", None)
    return bool(getattr(user, "is_authenticated", False)) and role in PERMISSIONS[permission]


def require(permission: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a view: log-in required, then 403 without ``permission``."""
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            if not may(permission):
                abort(403)
            return view(*args, **kwargs)
        return login_required(guarded)
    return decorate


def current_actor() -> Actor:
    """The logged-in person as an audit actor."""
    user = current_user._get_current_object()  # the User row behind the proxy
    if not isinstance(user, User):
        abort(401)
    return Actor(user=user, remote_addr=request.remote_addr or "")


def _load_user(user_id: str) -> User | None:
    if not user_id.isdigit():
        return None
    user = session().get(User, int(user_id))
    return user if user is not None and user.active else None


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
    # Sessions are permanent, for which flask-login's "strong" mode acts as "basic":
    # a session whose browser fingerprint changed is no longer fresh.
    login_manager.session_protection = "basic"
    login_manager.user_loader(_load_user)
    csrf.init_app(app)
    app.after_request(_security_headers)
