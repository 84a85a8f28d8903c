"""Log-in through the EMR, CSRF protection and the security headers of every page."""

from __future__ import annotations

from flask import Flask, current_app
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import select

from imaging_common.exceptions import ConfigError
from imaging_common.web import foundation
from imaging_common.web.sign_on import Person, SignOnClient
from modality_scu.database import session
from modality_scu.models import Operator, utcnow

__all__ = ["SIGN_ON_KEY", "csrf", "init_security", "login_manager", "record_operator",
           "sign_on_client"]

login_manager = LoginManager()
csrf = CSRFProtect()
SIGN_ON_KEY = "fovea_station_sign_on"


def sign_on_client() -> SignOnClient:
    """The current app's client of the EMR's sign-on."""
    client: SignOnClient = current_app.extensions[SIGN_ON_KEY]
    return client


def record_operator(person: Person) -> None:
    """Keep the station's record of a technician the EMR just signed on."""
    db = session()
    operator = db.scalar(select(Operator).where(Operator.username == person.username))
    if operator is None:
        operator = Operator(username=person.username, full_name=person.full_name)
        db.add(operator)
    operator.full_name = person.full_name
    operator.active = True
    operator.last_login_at = utcnow()
    db.commit()


def _load_operator(token: str) -> Operator | None:
    """The technician whose EMR sign-on the session holds, while the EMR says it is good."""
    person = sign_on_client().check(token)
    if person is None:
        return None
    operator = session().scalar(select(Operator).where(Operator.username == person.username))
    if operator is None:
        return None
    operator.sign_on_token = token
    return operator


def init_security(app: Flask, client: SignOnClient | None) -> None:
    """Bind log-in, CSRF protection and the security headers to ``app``.

    Raises:
        ConfigError: no sign-on settings (``FOVEA_SIGN_ON_SECRET_STATION``).
    """
    if client is None:
        raise ConfigError("technicians sign on through the EMR: set "
                          "FOVEA_SIGN_ON_SECRET_STATION (the station's secret at the EMR)")
    app.extensions[SIGN_ON_KEY] = client
    foundation.init_security(app, login_manager, csrf, _load_operator)
