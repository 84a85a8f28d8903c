"""The archive index: patients, studies, series and instances (SQLAlchemy 2.0).

Each level keeps, as columns with indexes, the attributes the query model
matches on most (PS3.4 C.6.1.1 and C.6.2.1 unique, required and common keys),
and in ``attributes`` the level's other non-bulk attributes as DICOM JSON
(PS3.18 F.2), so that any return key a viewer asks for can be answered from
the index without opening files.

Value columns are unbounded text: senders exceed VR lengths often enough
that an archive must not refuse an instance for it. UID columns are bounded,
since every UID is validated before it is indexed.

Person names are matched case-insensitively against an upper-cased copy
(``*_key`` columns); times are matched against a padded, sortable copy.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.pool import ConnectionPoolEntry

__all__ = ["Base", "Instance", "Patient", "Series", "Study", "sqlite_pragmas"]


class Base(DeclarativeBase):
    """Declarative base of the archive index."""

    type_annotation_map = {dict[str, Any]: JSON}


class Patient(Base):
    __tablename__ = "patient"
    __table_args__ = (UniqueConstraint("patient_id", "issuer_of_patient_id"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[str] = mapped_column(Text, index=True)
    issuer_of_patient_id: Mapped[str] = mapped_column(Text, default="")
    patient_name: Mapped[str] = mapped_column(Text, default="")
    patient_name_key: Mapped[str] = mapped_column(Text, default="", index=True)
    patient_birth_date: Mapped[str] = mapped_column(Text, default="", index=True)
    patient_sex: Mapped[str] = mapped_column(Text, default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)

    studies: Mapped[list[Study]] = relationship(back_populates="patient")


class Study(Base):
    __tablename__ = "study"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_pk: Mapped[int] = mapped_column(ForeignKey("patient.pk"), index=True)
    study_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    study_date: Mapped[str] = mapped_column(Text, default="", index=True)
    study_time: Mapped[str] = mapped_column(Text, default="")
    study_time_key: Mapped[str] = mapped_column(Text, default="")
    accession_number: Mapped[str] = mapped_column(Text, default="", index=True)
    study_id: Mapped[str] = mapped_column(Text, default="")
    study_description: Mapped[str] = mapped_column(Text, default="")
    referring_physician_name: Mapped[str] = mapped_column(Text, default="")
    referring_physician_name_key: Mapped[str] = mapped_column(Text, default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)

    patient: Mapped[Patient] = relationship(back_populates="studies")
    series: Mapped[list[Series]] = relationship(back_populates="study")


class Series(Base):
    __tablename__ = "series"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_pk: Mapped[int] = mapped_column(ForeignKey("study.pk"), index=True)
    series_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    modality: Mapped[str] = mapped_column(Text, default="", index=True)
    series_number: Mapped[str] = mapped_column(Text, default="")
    series_description: Mapped[str] = mapped_column(Text, default="")
    series_date: Mapped[str] = mapped_column(Text, default="")
    laterality: Mapped[str] = mapped_column(Text, default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)

    study: Mapped[Study] = relationship(back_populates="series")
    instances: Mapped[list[Instance]] = relationship(back_populates="series")


class Instance(Base):
    __tablename__ = "instance"
    __table_args__ = (Index("ix_instance_series_number", "series_pk", "instance_number"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    series_pk: Mapped[int] = mapped_column(ForeignKey("series.pk"), index=True)
    sop_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    sop_class_uid: Mapped[str] = mapped_column(String(64), index=True)
    instance_number: Mapped[str] = mapped_column(Text, default="")
    transfer_syntax_uid: Mapped[str] = mapped_column(String(64))
    file_path: Mapped[str] = mapped_column(Text)
    file_size: Mapped[int] = mapped_column(BigInteger)
    checksum: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    calling_ae_title: Mapped[str] = mapped_column(Text, default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)

    series: Mapped[Series] = relationship(back_populates="instances")


def sqlite_pragmas(engine: Engine) -> None:
    """Put a SQLite engine in WAL mode with durable commits and LIKE by case.

    ``synchronous=FULL`` makes every commit reach the disk before it returns,
    which is what lets the archive answer a C-STORE success only once the index
    row is durable. ``case_sensitive_like`` gives SQLite the same LIKE semantics
    as PostgreSQL; person names are matched on upper-cased copies instead.
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA case_sensitive_like=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()
