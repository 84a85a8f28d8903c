"""People who log in, and the log-in attempts that throttling counts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import Boolean, Enum, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from emr.models.base import Base, UtcDateTime, utcnow

__all__ = ["LoginAttempt", "Role", "User"]


class Role(StrEnum):
    """What a person does in the screening programme; permissions follow from it."""

    NURSE = "nurse"
    TECHNICIAN = "technician"
    OPHTHALMOLOGIST = "ophthalmologist"
    ADMIN = "admin"


def enum_values(enum: type[StrEnum]) -> list[str]:
    """The values SQLAlchemy stores for a string enum (not the member names)."""
    return [member.value for member in enum]


class User(UserMixin, Base):
    """An account of the EMR's web pages (services use tokens, not accounts)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(128))
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=16, values_callable=enum_values,
             create_constraint=True, name="role"))
    password_hash: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)

    #: The token of the sign-on (:mod:`emr.sign_on`) this object was loaded for; not
    #: stored. flask-login keeps it in the session cookie instead of the account's
    #: number, so a session ends when its sign-on does.
    sign_on_token = ""

    def get_id(self) -> str:
        """flask-login: the session's sign-on token."""
        if not self.sign_on_token:
            raise AttributeError("this account was not loaded for a sign-on")
        return self.sign_on_token

    @property
    def is_active(self) -> bool:
        """flask-login: a deactivated account cannot log in or keep a session."""
        return self.active


class LoginAttempt(Base):
    """One log-in attempt, kept to throttle guessing (OWASP ASVS V2.2.1)."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_username_at", "username", "at"),
        Index("ix_login_attempts_remote_addr_at", "remote_addr", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    username: Mapped[str] = mapped_column(String(64))
    remote_addr: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(Boolean)
