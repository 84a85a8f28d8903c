"""The station's own operator accounts: creating them and checking passwords.

Passwords are kept as salted hashes (werkzeug; scrypt by default). The policy
follows the EMR's: NIST SP 800-63B favours length, so at least 12 characters.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from imaging_common.exceptions import FoveaError
from modality_scu.models import Operator, utcnow

__all__ = ["AccountError", "PASSWORD_MIN_LENGTH", "authenticate", "create_operator"]

PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 128
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")


class AccountError(FoveaError):
    """An account cannot be created as asked (bad name, weak password, name taken)."""


def create_operator(db: Session, username: str, full_name: str, password: str,
                    hash_method: str = "scrypt") -> Operator:
    """Add an operator; the caller commits.

    Raises:
        AccountError: the user name or password breaks the rules, or the name is taken.
    """
    username = username.strip().lower()
    if not _USERNAME.match(username):
        raise AccountError("the user name must be 3-64 lower-case letters, digits, . _ -")
    if not full_name.strip() or len(full_name) > 128:
        raise AccountError("the full name is required (at most 128 characters)")
    if not PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH:
        raise AccountError(f"the password must have {PASSWORD_MIN_LENGTH} to "
                           f"{PASSWORD_MAX_LENGTH} characters")
    if username in password.lower():
        raise AccountError("the password may not contain the user name")
    if db.scalar(select(Operator.id).where(Operator.username == username)) is not None:
        raise AccountError(f"the user name {username!r} is taken")
    operator = Operator(username=username, full_name=full_name.strip(),
                        password_hash=generate_password_hash(password, hash_method), active=True)
    db.add(operator)
    db.flush()
    return operator


# Checked when the user name is unknown, so that the answer takes as long
# either way and does not reveal which user names exist.
_DUMMY_HASHES: dict[str, str] = {}


def authenticate(db: Session, username: str, password: str,
                 hash_method: str = "scrypt") -> Operator | None:
    """The active operator whose credentials these are, or ``None``."""
    operator = db.scalar(select(Operator).where(
        Operator.username == username.strip().lower()[:64]))
    if operator is None:
        if hash_method not in _DUMMY_HASHES:
            _DUMMY_HASHES[hash_method] = generate_password_hash("not a password", hash_method)
        check_password_hash(_DUMMY_HASHES[hash_method], password)
        return None
    if not (check_password_hash(operator.password_hash, password) and operator.active):
        return None
    operator.last_login_at = utcnow()
    return operator
