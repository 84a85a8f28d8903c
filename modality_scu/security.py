"""Log-in through the EMR, CSRF protection and the security headers of every page."""

from __future__ import annotations

from flask import Flask
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import select

from imaging_common.web.sign_on import Person, SignOnSettings, init_sign_on, sign_on_client
from modality_scu.database import session
from modality_scu.models import Operator, utcnow

__all__ = ["csrf", "init_security", "login_manager", "record_operator"]

login_manager = LoginManager()
csrf = CSRFProtect()


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


def init_security(app: Flask, settings: SignOnSettings | None) -> None:
    """Bind log-in through the EMR, CSRF protection and the security headers to ``app``."""
    init_sign_on(app, settings, "station", login_manager, csrf, _load_operator)
