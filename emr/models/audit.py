"""The audit log: who viewed or changed which patient's data, and when.

Rows are only ever added. The ORM refuses to change or delete them (see
:func:`emr.audit.protect_audit_log`) and the migration adds database triggers
that refuse UPDATE and DELETE on every supported database.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from emr.models.accounts import User
from emr.models.base import Base, UtcDateTime, utcnow

__all__ = ["AuditEntry"]


class AuditEntry(Base):
    """One audited action, by a person (``user_id``) or a service (``service``)."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    service: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    detail: Mapped[str] = mapped_column(Text, default="")
    remote_addr: Mapped[str] = mapped_column(String(64), default="")

    user: Mapped[User | None] = relationship()

    @property
    def actor(self) -> str:
        """Who acted, as the audit page shows it."""
        if self.user is not None:
            return f"{self.user.username} ({self.user.role.value})"
        return f"service {self.service}" if self.service else "anonymous"
