"""Who may do what on the web pages: roles, permissions, and the request's actor.

Permissions are granted to roles in one table, :data:`PERMISSIONS`; views ask
for a permission with :func:`require`, never for a role. Services on the REST
API have scopes instead (:mod:`emr.blueprints.api`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar
from urllib.parse import urlsplit

from flask import Flask, abort, request
from flask_login import LoginManager, current_user, login_required
from flask_wtf.csrf import CSRFProtect

from emr.audit import Actor
from emr.config import EmrConfig
from emr.database import session
from emr.models import Role, User
from emr.sign_on import EMR_CLIENT, resolve
from emr.web import CONFIG_KEY
from imaging_common.web import foundation

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


def _load_user(token: str) -> User | None:
    """The person whose EMR sign-on the session holds (:mod:`emr.sign_on`).

    flask-login loads the user before a view does any work, so what
    :func:`~emr.sign_on.resolve` marked (an ended sign-on, its last-seen time)
    is committed here on its own.
    """
    db = session()
    user = resolve(db, token, EMR_CLIENT)
    if db.dirty:
        db.commit()
    return user


def init_security(app: Flask) -> None:
    """Bind log-in, CSRF protection and the security headers to ``app``."""
    config: EmrConfig = app.extensions[CONFIG_KEY]
    origins = {_origin(client.return_url) for client in config.sign_on_clients}
    foundation.init_security(app, login_manager, csrf, _load_user,
                             form_targets=sorted(origins))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
