"""One sign-on for the network's people: the EMR is their identity source.

A person logs in at the EMR once. The station and the AI node's page send
them to ``/sign-on/authorize``; the EMR checks that their role may use that
app, and sends the browser back with a one-time code, which the app trades,
server to server and with its own client secret, for a token of its own
(:func:`redeem_code`). The app then asks the EMR whether that token is still
good (:func:`resolve`) as it serves each page. Every session, the EMR's own
included, is a :class:`~emr.models.SignOn` row, so that:

- logging out of an app ends that app's session; logging out of the EMR ends
  the EMR's session and every app session that came from it;
- a changed password, a changed role or a deactivated account ends every
  session of the account at once (the credential stamp no longer matches);
- a cookie of one app is nothing to another: the token names the app.

Tokens and codes are 256-bit random values; only their SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from emr.models import SignOn, User, utcnow

__all__ = ["EMR_CLIENT", "begin", "credential_stamp", "end", "end_all", "issue_code",
           "redeem_code", "resolve"]

#: The EMR's own pages, as a sign-on client.
EMR_CLIENT = "emr"
#: How long the browser has to carry a code back to the app.
CODE_LIFETIME = timedelta(seconds=60)
#: A sign-on's last-seen time is written at most this often (not on every page).
SEEN_GRANULARITY = timedelta(minutes=1)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def credential_stamp(user: User) -> str:
    """What a session is bound to: the account, its password, its role, its being active."""
    material = f"{user.id}\x1f{user.password_hash}\x1f{user.role.value}\x1f{user.active}"
    return _digest(material)


def begin(db: Session, user: User, client: str, lifetime: timedelta) -> str:
    """Start a session of ``user`` on ``client``; return its token."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.add(SignOn(user=user, client=client, token_hash=_digest(token),
                  credential_stamp=credential_stamp(user), created_at=now, last_seen_at=now,
                  expires_at=now + lifetime))
    db.flush()
    return token


def _open(db: Session, token: str) -> SignOn | None:
    if not token:
        return None
    return db.scalar(select(SignOn).where(SignOn.token_hash == _digest(token)))


def resolve(db: Session, token: str, client: str) -> User | None:
    """The person whose session on ``client`` ``token`` is, or ``None`` when it is not one.

    A session whose account changed (password, role, deactivation) is ended
    here, with the reason, the first time it is presented.
    """
    sign_on = _open(db, token)
    now = utcnow()
    if sign_on is None or sign_on.client != client or sign_on.ended_at is not None:
        return None
    if sign_on.expires_at <= now:
        _end(sign_on, "expired", now)
        return None
    user = sign_on.user
    if not user.active or not hmac.compare_digest(sign_on.credential_stamp,
                                                  credential_stamp(user)):
        _end(sign_on, "credentials changed", now)
        return None
    if sign_on.parent_id is not None:
        parent = db.get(SignOn, sign_on.parent_id)
        if parent is None or parent.ended_at is not None:
            _end(sign_on, "signed out", now)
            return None
    if now - sign_on.last_seen_at >= SEEN_GRANULARITY:
        sign_on.last_seen_at = now
    user.sign_on_token = token
    return user


def issue_code(db: Session, token: str, client: str, lifetime: timedelta) -> str:
    """A one-time code for an app session of the person holding EMR session ``token``.

    Raises:
        LookupError: ``token`` is not a valid EMR session.
    """
    parent = _open(db, token)
    user = resolve(db, token, EMR_CLIENT)
    if parent is None or user is None:
        raise LookupError("no EMR session")
    code = secrets.token_urlsafe(32)
    now = utcnow()
    db.add(SignOn(user=user, client=client, parent_id=parent.id, code_hash=_digest(code),
                  code_expires_at=now + CODE_LIFETIME, credential_stamp=credential_stamp(user),
                  created_at=now, last_seen_at=now,
                  expires_at=min(parent.expires_at, now + lifetime)))
    db.flush()
    return code


def redeem_code(db: Session, code: str, client: str) -> tuple[str, User] | None:
    """Trade a one-time code for ``client``'s session token; ``None`` when it is no good.

    A code works once, for the app it was issued to, within :data:`CODE_LIFETIME`.
    """
    sign_on = db.scalar(select(SignOn).where(SignOn.code_hash == _digest(code))) if code else None
    if sign_on is None:
        return None
    now = utcnow()
    sign_on.code_hash = None  # spent, whatever follows
    if sign_on.client != client or sign_on.code_expires_at is None \
            or sign_on.code_expires_at <= now:
        _end(sign_on, "code refused", now)
        return None
    token = secrets.token_urlsafe(32)
    sign_on.token_hash = _digest(token)
    user = resolve(db, token, client)
    return None if user is None else (token, user)


def _end(sign_on: SignOn, reason: str, now: datetime) -> None:
    if sign_on.ended_at is None:
        sign_on.ended_at = now
        sign_on.end_reason = reason


def end(db: Session, token: str, reason: str = "signed out") -> None:
    """End the session ``token`` and every app session that came from it."""
    sign_on = _open(db, token)
    if sign_on is None:
        return
    now = utcnow()
    _end(sign_on, reason, now)
    db.execute(update(SignOn).where(SignOn.parent_id == sign_on.id, SignOn.ended_at.is_(None))
               .values(ended_at=now, end_reason=reason))


def end_all(db: Session, user: User, reason: str) -> int:
    """End every open session of ``user``; return how many there were."""
    result = db.execute(update(SignOn).where(SignOn.user_id == user.id,
                                             SignOn.ended_at.is_(None))
                        .values(ended_at=utcnow(), end_reason=reason))
    return int(getattr(result, "rowcount", 0) or 0)
