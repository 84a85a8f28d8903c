"""Accounts: creating users, checking passwords, and throttling log-in guesses.

Passwords are stored as salted scrypt hashes (werkzeug). Log-in throttling
follows OWASP ASVS 4.0 V2.2.1: after ``login_max_failures`` failed attempts for
one account within ``login_window`` the account is paused for that window; an
address gets four times as many, since a ward's computers may share one.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from emr.exceptions import Conflict, Throttled, ValidationError
from emr.models import LoginAttempt, Role, User, utcnow

__all__ = ["PASSWORD_MIN_LENGTH", "authenticate", "check_password_policy", "create_user",
           "set_password"]

#: NIST SP 800-63B 5.1.1.2 asks for at least 8 characters and favours length;
#: shared clinical workstations argue for more.
PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 128
ADDRESS_FACTOR = 4

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")


def check_password_policy(password: str, username: str = "") -> None:
    """Raise :class:`ValidationError` if ``password`` is too short, long or obvious."""
    if not PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH:
        raise ValidationError(
            f"the password must have {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters",
            {"password": f"use at least {PASSWORD_MIN_LENGTH} characters"})
    if username and username.lower() in password.lower():
        raise ValidationError("the password may not contain the user name",
                              {"password": "may not contain the user name"})


def create_user(db: Session, username: str, full_name: str, role: Role | str,
                password: str, hash_method: str = "scrypt") -> User:
    """Add a user; raise :class:`ValidationError` or :class:`Conflict` on bad input."""
    username = username.strip().lower()
    if not _USERNAME.match(username):
        raise ValidationError("the user name must be 3-64 lower-case letters, digits, . _ -",
                              {"username": "3-64 lower-case letters, digits, . _ -"})
    if not full_name.strip():
        raise ValidationError("the full name is required", {"full_name": "required"})
    try:
        role = Role(role)
    except ValueError:
        raise ValidationError(f"unknown role {role!r}", {"role": "unknown role"}) from None
    check_password_policy(password, username)
    if db.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"the user name {username!r} is taken")
    user = User(username=username, full_name=full_name.strip(), role=role,
                password_hash=generate_password_hash(password, hash_method), active=True)
    db.add(user)
    db.flush()
    return user


def set_password(user: User, password: str, hash_method: str = "scrypt") -> None:
    """Replace ``user``'s password after checking the policy."""
    check_password_policy(password, user.username)
    user.password_hash = generate_password_hash(password, hash_method)


# Checked when the user name is unknown, so that the answer takes as long
# either way and does not reveal which user names exist.
_DUMMY_HASHES: dict[str, str] = {}


def _dummy_hash(method: str) -> str:
    if method not in _DUMMY_HASHES:
        _DUMMY_HASHES[method] = generate_password_hash("not a password", method)
    return _DUMMY_HASHES[method]


def authenticate(db: Session, username: str, password: str, remote_addr: str, *,
                 max_failures: int, window: timedelta, hash_method: str = "scrypt",
                 now: datetime | None = None) -> User | None:
    """Return the active user whose credentials these are, or ``None``.

    Every attempt is recorded. Raises :class:`Throttled` before checking the
    password when the account or the address has failed too often.
    """
    now = now or utcnow()
    username = username.strip().lower()[:64]
    _check_throttle(db, username, remote_addr, max_failures, window, now)
    user = db.scalar(select(User).where(User.username == username))
    if user is None:
        check_password_hash(_dummy_hash(hash_method), password)
        valid = False
    else:
        valid = check_password_hash(user.password_hash, password) and user.active
    db.add(LoginAttempt(at=now, username=username, remote_addr=remote_addr[:64],
                        succeeded=valid))
    if valid and user is not None:
        user.last_login_at = now
        return user
    return None


def _check_throttle(db: Session, username: str, remote_addr: str, max_failures: int,
                    window: timedelta, now: datetime) -> None:
    since = now - window
    last_success = db.scalar(
        select(func.max(LoginAttempt.at)).where(
            LoginAttempt.username == username, LoginAttempt.succeeded.is_(True)))
    account_since = max(since, last_success) if last_success else since
    checks = [
        (_failures(db, LoginAttempt.username == username, account_since), max_failures),
        (_failures(db, LoginAttempt.remote_addr == remote_addr, since),
         max_failures * ADDRESS_FACTOR),
    ]
    for (count, oldest), limit in checks:
        if count >= limit and oldest is not None:
            retry_after = max(1, int((oldest + window - now).total_seconds()))
            raise Throttled("too many failed log-ins; try again later", retry_after)


def _failures(db: Session, condition: object, since: datetime) -> tuple[int, datetime | None]:
    row = db.execute(
        select(func.count(LoginAttempt.id), func.min(LoginAttempt.at)).where(
            condition, LoginAttempt.succeeded.is_(False),  # type: ignore[arg-type]
            LoginAttempt.at > since)).one()
    return int(row[0]), row[1]
