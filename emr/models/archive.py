"""The archive outbox: each DICOM object the EMR owes the PACS, until the PACS has it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import Enum, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from emr.models.accounts import User, enum_values
from emr.models.base import Base, UtcDateTime, utcnow

if TYPE_CHECKING:
    from emr.models.orders import Order
    from emr.models.results import AiResult

__all__ = ["ArchiveItem", "ArchiveKind", "ArchiveState"]


class ArchiveKind(StrEnum):
    """What an object in the outbox is."""

    #: The ophthalmologist's verified report of an AI result (Comprehensive 3D SR).
    VERIFIED_SR = "verified-sr"
    #: The printable screening report (Encapsulated PDF).
    REPORT_PDF = "report-pdf"


class ArchiveState(StrEnum):
    """Whether the PACS has the object; a failed try leaves it pending."""

    PENDING = "pending"
    SENT = "sent"


class ArchiveItem(Base):
    """One DICOM object the EMR must store in the PACS, kept until the PACS has it.

    ``content`` is the object as a DICOM file (PS3.10), sent as it is on every
    try. A verified report is written into the outbox when it is signed, with
    its SOP Instance UID, and encoded on its first try (it needs the AI report
    from the PACS); from then on its content is fixed too. ``attempts``
    counts the tries that failed, ``last_error`` says why the last one did.
    """

    __tablename__ = "archive_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    kind: Mapped[ArchiveKind] = mapped_column(
        Enum(ArchiveKind, native_enum=False, length=16, values_callable=enum_values,
             create_constraint=True, name="archive_kind"))
    sop_class_uid: Mapped[str] = mapped_column(String(64))
    sop_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    content: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    state: Mapped[ArchiveState] = mapped_column(
        Enum(ArchiveState, native_enum=False, length=8, values_callable=enum_values,
             create_constraint=True, name="archive_state"),
        default=ArchiveState.PENDING, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: A verified report: the AI result it verifies, who signed it, and the
    #: verified report of the same result it supersedes (Predecessor Documents).
    result_id: Mapped[int | None] = mapped_column(ForeignKey("ai_results.id"))
    signed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    predecessor_uid: Mapped[str | None] = mapped_column(String(64))

    order: Mapped[Order] = relationship()
    result: Mapped[AiResult | None] = relationship()
    signed_by: Mapped[User | None] = relationship()

    @property
    def sent(self) -> bool:
        """Whether the PACS has the object."""
        return self.state == ArchiveState.SENT
