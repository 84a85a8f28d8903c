"""Index rows: the upserts of a received instance and the look-ups.

This module knows the index and the records of :mod:`pacs_scp.record`; it
knows nothing of associations or files.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, cast

from sqlalchemy import Connection, Row, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from imaging_common.exceptions import DicomInputError
from imaging_common.levels import Level
from pacs_scp.matching import time_key
from pacs_scp.models import Instance, Patient, Series, Study
from pacs_scp.record import InstanceRecord

__all__ = [
    "ParentCache",
    "StoredFile",
    "StudyConflictError",
    "existing_file",
    "parents_key",
    "put_instance",
    "upsert_parents",
]


class StudyConflictError(DicomInputError):
    """The Study Instance UID already belongs to another patient."""


def _patient_columns(record: InstanceRecord) -> dict[str, Any]:
    v = record.values
    return {
        "patient_name": v["PatientName"],
        "patient_name_key": v["PatientName"].upper(),
        "patient_birth_date": v["PatientBirthDate"],
        "patient_sex": v["PatientSex"],
        "attributes": record.attributes[Level.PATIENT],
    }


def _study_columns(record: InstanceRecord) -> dict[str, Any]:
    v = record.values
    return {
        "study_date": v["StudyDate"],
        "study_time": v["StudyTime"],
        "study_time_key": time_key(v["StudyTime"]) if v["StudyTime"] else "",
        "accession_number": v["AccessionNumber"],
        "study_id": v["StudyID"],
        "study_description": v["StudyDescription"],
        "referring_physician_name": v["ReferringPhysicianName"],
        "referring_physician_name_key": v["ReferringPhysicianName"].upper(),
        "attributes": record.attributes[Level.STUDY],
    }


def _series_columns(record: InstanceRecord) -> dict[str, Any]:
    v = record.values
    return {
        "modality": v["Modality"],
        "series_number": v["SeriesNumber"],
        "series_description": v["SeriesDescription"],
        "series_date": v["SeriesDate"],
        "laterality": v["Laterality"] or v["ImageLaterality"],
        "attributes": record.attributes[Level.SERIES],
    }


def _upsert(connection: Connection, table: Table, keys: dict[str, Any],
            columns: dict[str, Any]) -> Row[Any] | None:
    """Insert a row, or update the columns that changed; return the old row.

    The level's ``attributes`` are merged, the newest instance's values winning.
    """
    where = [table.c[name] == value for name, value in keys.items()]
    old = connection.execute(select(table).where(*where)).first()
    if old is None:
        connection.execute(insert(table).values(**keys, **columns))
        return None
    columns = {**columns, "attributes": {**(old.attributes or {}), **columns["attributes"]}}
    changed = {name: value for name, value in columns.items() if getattr(old, name) != value}
    if changed:
        connection.execute(update(table).where(table.c.pk == old.pk).values(**changed))
    return old


def _pk(connection: Connection, table: Table, keys: dict[str, Any]) -> int:
    where = [table.c[name] == value for name, value in keys.items()]
    return int(connection.execute(select(table.c.pk).where(*where)).scalar_one())


@dataclass(frozen=True)
class StoredFile:
    """Where and how an instance was written."""

    transfer_syntax_uid: str
    file_path: str
    file_size: int
    checksum: str
    calling_ae_title: str


def parents_key(record: InstanceRecord) -> str:
    """A digest of everything an instance says about its patient, study and series.

    Instances of one series usually say the same; when the digest was indexed
    already, the parent rows need no update.
    """
    parents = {
        "uids": [record.study_instance_uid, record.series_instance_uid],
        "values": {k: v for k, v in record.values.items() if k not in _INSTANCE_VALUES},
        "attributes": [record.attributes[lv] for lv in (Level.PATIENT, Level.STUDY, Level.SERIES)],
    }
    return hashlib.sha256(json.dumps(parents, sort_keys=True).encode()).hexdigest()


_INSTANCE_VALUES = frozenset({"SOPClassUID", "SOPInstanceUID", "InstanceNumber", "ImageLaterality"})


class ParentCache:
    """Series row keys by :func:`parents_key`, for parents indexed as they are.

    Rows are never deleted, so a cached key stays valid; a bounded size keeps
    memory flat. Safe to share between association threads.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._keys: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> int | None:
        with self._lock:
            series_pk = self._keys.get(key)
            if series_pk is not None:
                self._keys.move_to_end(key)
            return series_pk

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()

    def put(self, key: str, series_pk: int) -> None:
        with self._lock:
            self._keys[key] = series_pk
            self._keys.move_to_end(key)
            while len(self._keys) > self._size:
                self._keys.popitem(last=False)


def upsert_parents(connection: Connection, record: InstanceRecord) -> int:
    """Create or update the patient, study and series rows; return the series key.

    Raises:
        StudyConflictError: the study is indexed under another patient.
        DicomInputError: the series is indexed under another study.
    """
    v = record.values
    patient_keys = {"patient_id": v["PatientID"], "issuer_of_patient_id": v["IssuerOfPatientID"]}
    _upsert(connection, _PATIENT, patient_keys, _patient_columns(record))
    patient_pk = _pk(connection, _PATIENT, patient_keys)
    study_keys = {"study_instance_uid": record.study_instance_uid}
    old_study = _upsert(connection, _STUDY, study_keys,
                        {"patient_pk": patient_pk, **_study_columns(record)})
    if old_study is not None and old_study.patient_pk != patient_pk:
        raise StudyConflictError(f"study belongs to another patient: {record.study_instance_uid}")
    study_pk = _pk(connection, _STUDY, study_keys)
    series_keys = {"series_instance_uid": record.series_instance_uid}
    old_series = _upsert(connection, _SERIES, series_keys,
                         {"study_pk": study_pk, **_series_columns(record)})
    if old_series is not None and old_series.study_pk != study_pk:
        raise DicomInputError(f"series belongs to another study: {record.series_instance_uid}")
    return _pk(connection, _SERIES, series_keys)


_PATIENT = cast(Table, Patient.__table__)
_STUDY = cast(Table, Study.__table__)
_SERIES = cast(Table, Series.__table__)
_EXISTING_FILE = select(Instance.checksum, Instance.file_path).where(
    Instance.sop_instance_uid == bindparam("uid")
)
_INSERT_INSTANCE = insert(Instance)
_UPDATE_INSTANCE = update(Instance).where(Instance.sop_instance_uid == bindparam("uid"))


def existing_file(connection: Connection, sop_instance_uid: str) -> tuple[str, str] | None:
    """Return (checksum, file path) of the indexed instance, or ``None``."""
    row = connection.execute(_EXISTING_FILE, {"uid": sop_instance_uid}).first()
    return None if row is None else (row[0], row[1])


def put_instance(
    connection: Connection, record: InstanceRecord, series_pk: int, stored: StoredFile,
    replacing: bool,
) -> None:
    """Insert the instance row, or update it when ``replacing`` (the caller commits).

    Statements are built once and executed with parameters: this is the
    archive's hottest path, run once per received instance.
    """
    columns = {
        "series_pk": series_pk,
        "sop_class_uid": record.sop_class_uid,
        "instance_number": record.values["InstanceNumber"],
        "transfer_syntax_uid": stored.transfer_syntax_uid,
        "file_path": stored.file_path,
        "file_size": stored.file_size,
        "checksum": stored.checksum,
        "received_at": datetime.now(timezone.utc),
        "calling_ae_title": stored.calling_ae_title,
        "attributes": record.attributes[Level.IMAGE],
    }
    if replacing:
        connection.execute(_UPDATE_INSTANCE, {"uid": record.sop_instance_uid, **columns})
    else:
        connection.execute(_INSERT_INSTANCE,
                           {"sop_instance_uid": record.sop_instance_uid, **columns})


def find_instance(session: Session, sop_instance_uid: str) -> Instance | None:
    """Return the indexed instance with ``sop_instance_uid``, or ``None``."""
    return session.scalars(
        select(Instance).where(Instance.sop_instance_uid == sop_instance_uid)
    ).one_or_none()


def indexed_paths(session: Session) -> set[str]:
    """Return the file path of every indexed instance."""
    return set(session.scalars(select(Instance.file_path)))


def is_indexed_path(session: Session, relative: str) -> bool:
    """Return whether an indexed instance names the file ``relative``."""
    return session.scalar(
        select(Instance.pk).where(Instance.file_path == relative).limit(1)
    ) is not None


def instances_by_uid(session: Session, uids: Iterable[str]) -> dict[str, Instance]:
    """Return the indexed instances among ``uids``, keyed by SOP Instance UID."""
    wanted = list(uids)
    found: dict[str, Instance] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        for instance in session.scalars(
            select(Instance).where(Instance.sop_instance_uid.in_(chunk))
        ):
            found[instance.sop_instance_uid] = instance
    return found
