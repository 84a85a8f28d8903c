"""Prescriptions of an AI fundus screening, and every change of their state."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import Enum, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from emr.models.accounts import User, enum_values
from emr.models.base import Base, UtcDateTime, utcnow
from emr.states import OrderState

if TYPE_CHECKING:
    from emr.models.patients import Patient
    from emr.models.results import AiResult

__all__ = ["Laterality", "Order", "OrderTransition", "Priority", "state_column"]


class Laterality(StrEnum):
    """Which eyes the order covers; ``eyes`` gives DICOM Image Laterality values."""

    BOTH = "both"
    RIGHT = "right"
    LEFT = "left"

    @property
    def eyes(self) -> tuple[str, ...]:
        """Image Laterality (0020,0062) values: R and L (PS3.3 C.7.6.2)."""
        return {"both": ("R", "L"), "right": ("R",), "left": ("L",)}[self.value]


class Priority(StrEnum):
    """Requested Procedure Priority (0040,1003), the values this EMR offers."""

    ROUTINE = "ROUTINE"
    HIGH = "HIGH"
    STAT = "STAT"


def state_column(name: str = "state") -> Enum:
    """The column type of an order state: a string with a check constraint ``name``."""
    return Enum(OrderState, native_enum=False, length=16, values_callable=enum_values,
                create_constraint=True, name=name)


class Order(Base):
    """An AI diabetic-retinopathy screening ordered for a patient.

    The four identifiers are assigned at creation and carried by the worklist
    item and by every image of the study (PS3.17 J.2.2).
    """

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    laterality: Mapped[Laterality] = mapped_column(
        Enum(Laterality, native_enum=False, length=8, values_callable=enum_values,
             create_constraint=True, name="laterality"))
    priority: Mapped[Priority] = mapped_column(
        Enum(Priority, native_enum=False, length=8, values_callable=enum_values,
             create_constraint=True, name="priority"))
    reason: Mapped[str] = mapped_column(String(64), default="")
    ordering_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    scheduled_station_ae: Mapped[str] = mapped_column(String(16), index=True)
    scheduled_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    accession_number: Mapped[str] = mapped_column(String(16), unique=True)
    requested_procedure_id: Mapped[str] = mapped_column(String(16), unique=True)
    scheduled_procedure_step_id: Mapped[str] = mapped_column(String(16), unique=True)
    study_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[OrderState] = mapped_column(state_column(), index=True)
    state_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    patient: Mapped[Patient] = relationship(back_populates="orders")
    ordering_user: Mapped[User] = relationship()
    transitions: Mapped[list[OrderTransition]] = relationship(
        back_populates="order", order_by="OrderTransition.id",
        cascade="all, delete-orphan")
    results: Mapped[list[AiResult]] = relationship(
        back_populates="order", order_by="AiResult.id")

    @property
    def current_result(self) -> AiResult | None:
        """The AI result the report shows: the one received last."""
        return self.results[-1] if self.results else None


class OrderTransition(Base):
    """One change of an order's state: from, to, why, when, and by whom.

    Exactly one of ``user_id`` (a person, on the web pages) and ``service``
    (a service token's name, on the REST API) says who caused it.
    """

    __tablename__ = "order_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    from_state: Mapped[OrderState | None] = mapped_column(state_column("from_state"))
    to_state: Mapped[OrderState] = mapped_column(state_column("to_state"))
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    service: Mapped[str | None] = mapped_column(String(64))

    order: Mapped[Order] = relationship(back_populates="transitions")
    user: Mapped[User | None] = relationship()

    @property
    def actor(self) -> str:
        """Who caused the change, as shown on the order page."""
        if self.user is not None:
            return f"{self.user.full_name} ({self.user.role.value})"
        return f"service {self.service}"
