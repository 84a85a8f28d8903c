"""The station's database (SQLAlchemy 2.0): operators, examinations and the outbox.

An examination (:class:`Procedure`) is one worklist item being performed: it
keeps the item as the worklist sent it, the MPPS instance that reports it,
and where it stands. Each image it made is an :class:`OutboxImage`: a file
under the outbox folder and its delivery state, kept until the archive has
committed to it. Timestamps are naive UTC.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import Boolean, DateTime, Enum, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = ["Base", "ImageState", "Operator", "OutboxImage", "Procedure", "ProcedureState",
           "utcnow"]


def utcnow() -> datetime:
    """Now, as the naive UTC timestamp the database keeps."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    """Declarative base of the station's tables."""


class ProcedureState(str, enum.Enum):
    """Where an examination stands.

    ``in_progress``: MPPS created, photographs not yet given;
    ``sending``: photographs in the outbox, COMPLETED to follow once all are committed;
    ``completed``: the MPPS is COMPLETED;
    ``discontinuing``: cancelled, the MPPS DISCONTINUED waits to be sent;
    ``discontinued``: the MPPS is DISCONTINUED.
    """

    IN_PROGRESS = "in_progress"
    SENDING = "sending"
    COMPLETED = "completed"
    DISCONTINUING = "discontinuing"
    DISCONTINUED = "discontinued"

    @property
    def label(self) -> str:
        return _PROCEDURE_LABELS[self]

    @property
    def open(self) -> bool:
        """Whether the examination still has something to do."""
        return self in (ProcedureState.IN_PROGRESS, ProcedureState.SENDING,
                        ProcedureState.DISCONTINUING)


_PROCEDURE_LABELS = {
    ProcedureState.IN_PROGRESS: "In progress",
    ProcedureState.SENDING: "Sending",
    ProcedureState.COMPLETED: "Completed",
    ProcedureState.DISCONTINUING: "Cancelling",
    ProcedureState.DISCONTINUED: "Cancelled",
}


class ImageState(str, enum.Enum):
    """Delivery of one image: waiting, stored by the archive, committed by it."""

    PENDING = "pending"
    STORED = "stored"
    COMMITTED = "committed"

    @property
    def label(self) -> str:
        return {"pending": "Waiting to be sent", "stored": "Stored, awaiting commitment",
                "committed": "Stored and committed"}[self.value]


class Operator(Base):
    """A technician as the EMR signed them on: the station's record of who did what.

    People sign on through the EMR (:mod:`imaging_common.web.sign_on`); this row
    is made or updated at each sign-on, so that examinations name who performed
    them. The station keeps no password (``password_hash`` stays empty).
    """

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(String(256), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)

    #: The EMR sign-on token this object was loaded for (not stored): the session's id.
    sign_on_token = ""

    # flask-login's user protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    def get_id(self) -> str:
        if not self.sign_on_token:
            raise AttributeError("this operator was not loaded for a sign-on")
        return self.sign_on_token

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False


class Procedure(Base):
    """One worklist item performed at this station, and its MPPS instance."""

    __tablename__ = "procedures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mpps_uid: Mapped[str] = mapped_column(String(64), unique=True)
    performed_procedure_step_id: Mapped[str] = mapped_column(String(16))
    study_instance_uid: Mapped[str] = mapped_column(String(64), index=True)
    scheduled_procedure_step_id: Mapped[str] = mapped_column(String(16), default="")
    accession_number: Mapped[str] = mapped_column(String(16), default="")
    series_instance_uid: Mapped[str] = mapped_column(String(64))
    #: The worklist item as received, DICOM JSON (PS3.18 F.2).
    worklist_item: Mapped[str] = mapped_column(Text)
    #: The eyes the order asks for: "R", "L" or "RL".
    eyes: Mapped[str] = mapped_column(String(2))
    state: Mapped[ProcedureState] = mapped_column(
        Enum(ProcedureState, native_enum=False, length=16,
             values_callable=lambda states: [s.value for s in states]),
        default=ProcedureState.IN_PROGRESS, index=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"))
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: When the photographs were given or the examination cancelled: the MPPS end.
    ended_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    discontinuation_reason: Mapped[str] = mapped_column(String(32), default="")
    #: Sending the final MPPS N-SET: attempts so far, the next one, the last error.
    mpps_attempts: Mapped[int] = mapped_column(Integer, default=0)
    mpps_next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    mpps_last_error: Mapped[str] = mapped_column(Text, default="")
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)

    operator: Mapped[Operator] = relationship()
    images: Mapped[list[OutboxImage]] = relationship(
        back_populates="procedure", order_by="OutboxImage.instance_number")


class OutboxImage(Base):
    """One image of an examination, waiting in the outbox until committed."""

    __tablename__ = "outbox_images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    procedure_id: Mapped[int] = mapped_column(ForeignKey("procedures.id"), index=True)
    sop_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    sop_class_uid: Mapped[str] = mapped_column(String(64))
    transfer_syntax_uid: Mapped[str] = mapped_column(String(64))
    laterality: Mapped[str] = mapped_column(String(1))
    instance_number: Mapped[int] = mapped_column(Integer)
    #: The file's name in the outbox folder.
    file_name: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(Integer)
    #: Where the picture came from, for the page: "upload (JPEG)", "simulated", ...
    source: Mapped[str] = mapped_column(String(64), default="")
    state: Mapped[ImageState] = mapped_column(
        Enum(ImageState, native_enum=False, length=16,
             values_callable=lambda states: [s.value for s in states]),
        default=ImageState.PENDING, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    stored_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    committed_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)

    procedure: Mapped[Procedure] = relationship(back_populates="images")
