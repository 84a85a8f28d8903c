"""Patients, with the identity a DICOM Patient module needs (PS3.3 C.7.1.1)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import Date, Enum, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from emr.models.accounts import enum_values
from emr.models.base import Base, UtcDateTime, utcnow

if TYPE_CHECKING:
    from emr.models.orders import Order

__all__ = ["Patient", "Sex"]


class Sex(StrEnum):
    """Patient's Sex (0010,0040): M, F, O, or empty when unknown."""

    MALE = "M"
    FEMALE = "F"
    OTHER = "O"
    UNKNOWN = ""


class Patient(Base):
    """A registered patient; the MRN is the DICOM Patient ID (0010,0020)."""

    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mrn: Mapped[str] = mapped_column(String(64), unique=True)
    family_name: Mapped[str] = mapped_column(String(64), index=True)
    given_name: Mapped[str] = mapped_column(String(64), default="")
    middle_name: Mapped[str] = mapped_column(String(64), default="")
    name_prefix: Mapped[str] = mapped_column(String(64), default="")
    name_suffix: Mapped[str] = mapped_column(String(64), default="")
    birth_date: Mapped[date] = mapped_column(Date, index=True)
    sex: Mapped[Sex] = mapped_column(
        Enum(Sex, native_enum=False, length=1, values_callable=enum_values,
             create_constraint=True, name="sex"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    orders: Mapped[list[Order]] = relationship(
        back_populates="patient", order_by="Order.scheduled_at.desc()")

    @property
    def dicom_name(self) -> str:
        """The name as a DICOM PN value: family^given^middle^prefix^suffix (PS3.5 6.2.1).

        Trailing empty components are dropped, as PS3.5 6.2.1.1 recommends.
        """
        components = [self.family_name, self.given_name, self.middle_name,
                      self.name_prefix, self.name_suffix]
        return "^".join(components).rstrip("^")

    @property
    def display_name(self) -> str:
        """The name as people read it: ``FAMILY, Given Middle``."""
        given = " ".join(p for p in (self.name_prefix, self.given_name, self.middle_name) if p)
        name = f"{self.family_name.upper()}, {given}" if given else self.family_name.upper()
        return f"{name} {self.name_suffix}".strip()
