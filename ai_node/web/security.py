"""Log-in through the EMR, CSRF protection and the security headers of the page.

Nurses sign on through the EMR (:mod:`imaging_common.web.sign_on`); the page
keeps no accounts and no passwords of its own.
"""

from __future__ import annotations

from flask import Flask
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from imaging_common.web.sign_on import Person, SignOnSettings, init_sign_on, sign_on_client

__all__ = ["csrf", "init_security", "login_manager"]

login_manager = LoginManager()
csrf = CSRFProtect()


def _load_person(token: str) -> Person | None:
    """The nurse whose EMR sign-on the session holds, while the EMR says it is good."""
    return sign_on_client().check(token)


def init_security(app: Flask, settings: SignOnSettings | None) -> None:
    """Bind log-in through the EMR, CSRF protection and the security headers to ``app``."""
    init_sign_on(app, settings, "ai", login_manager, csrf, _load_person)
