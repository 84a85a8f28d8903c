"""Sign-ons: each session a person holds, on the EMR or on an app the EMR signs them on to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from emr.models.accounts import User
from emr.models.base import Base, UtcDateTime, utcnow

__all__ = ["SignOn"]


class SignOn(Base):
    """One session of one person on one app: the EMR itself, the station or the AI page.

    The browser (the EMR's own session) or the app (a station's, an AI page's)
    holds a random token; only its SHA-256 is kept. A sign-on is valid while it
    has not ended, has not expired, its account is active and the account's
    credentials (password, role) are the ones it was made with
    (``credential_stamp``). An app's sign-on starts as a one-time code the
    browser carries back to the app, which trades it for the token; it comes
    from the person's EMR sign-on (``parent``), and ends with it.
    """

    __tablename__ = "sign_ons"
    __table_args__ = (Index("ix_sign_ons_user_id_ended_at", "user_id", "ended_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    client: Mapped[str] = mapped_column(String(32))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("sign_ons.id"), default=None)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    code_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    code_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    credential_stamp: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    end_reason: Mapped[str | None] = mapped_column(String(32), default=None)

    user: Mapped[User] = relationship()
