"""Log-in through the EMR, CSRF protection and the security headers of the page.

Nurses sign on through the EMR (:mod:`imaging_common.web.sign_on`); the page
keeps no accounts and no passwords of its own.
"""

from __future__ import annotations

from flask import Flask, current_app
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from imaging_common.exceptions import ConfigError
from imaging_common.web import foundation
from imaging_common.web.sign_on import Person, SignOnClient

__all__ = ["SIGN_ON_KEY", "csrf", "init_security", "login_manager", "sign_on_client"]

login_manager = LoginManager()
csrf = CSRFProtect()
SIGN_ON_KEY = "fovea_ai_sign_on"


def sign_on_client() -> SignOnClient:
    """The current app's client of the EMR's sign-on."""
    client: SignOnClient = current_app.extensions[SIGN_ON_KEY]
    return client


def _load_person(token: str) -> Person | None:
    """The nurse whose EMR sign-on the session holds, while the EMR says it is good."""
    return sign_on_client().check(token)


def init_security(app: Flask, client: SignOnClient | None) -> None:
    """Bind log-in, CSRF protection and the security headers to ``app``.

    Raises:
        ConfigError: no sign-on settings (``FOVEA_SIGN_ON_SECRET_AI``).
    """
    if client is None:
        raise ConfigError("nurses sign on through the EMR: set FOVEA_SIGN_ON_SECRET_AI "
                          "(the page's secret at the EMR)")
    app.extensions[SIGN_ON_KEY] = client
    foundation.init_security(app, login_manager, csrf, _load_person)
