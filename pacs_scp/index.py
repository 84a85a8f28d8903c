"""From a received dataset to index rows: extraction, upsert and look-ups.

This module knows the index and DICOM datasets; it knows nothing of
associations or files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from imaging_common.exceptions import DicomInputError
from imaging_common.levels import Level, level_of_tag
from pacs_scp.archive import validate_uid
from pacs_scp.matching import time_key
from pacs_scp.models import Instance, Patient, Series, Study

__all__ = ["InstanceRecord", "StudyConflictError", "record_from_dataset", "upsert_instance"]

#: VRs whose values are bulk data, never kept in the index.
BULK_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
#: Longest value kept in the index's attribute JSON (bytes of the string form).
MAX_INDEXED_LENGTH = 1024
#: Attributes never copied into the index (bulk sequences, character set).
SKIPPED_KEYWORDS = frozenset({"IconImageSequence", "SpecificCharacterSet"})


class StudyConflictError(DicomInputError):
    """The Study Instance UID already belongs to another patient."""


@dataclass(frozen=True)
class InstanceRecord:
    """What the index keeps of one instance, grouped by level."""

    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    values: dict[str, str]
    attributes: dict[Level, dict[str, Any]]


def _text(dataset: Dataset, keyword: str) -> str:
    value = dataset.get(keyword)
    if value is None:
        return ""
    if isinstance(value, MultiValue):
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _attributes_by_level(dataset: Dataset) -> dict[Level, dict[str, Any]]:
    levels: dict[Level, Dataset] = {level: Dataset() for level in Level}
    for element in dataset:
        if element.tag.is_private or element.tag.group in (0x0002, 0x7FE0):
            continue
        if element.VR in BULK_VRS or element.keyword in SKIPPED_KEYWORDS:
            continue
        if element.VR != "SQ" and len(str(element.value)) > MAX_INDEXED_LENGTH:
            continue
        levels[level_of_tag(element.tag)].add(element)
    return {
        level: ds.to_json_dict(MAX_INDEXED_LENGTH, lambda element: "")
        for level, ds in levels.items()
    }


def record_from_dataset(dataset: Dataset) -> InstanceRecord:
    """Extract what the index needs from a dataset read without its pixels.

    Raises:
        DicomInputError: a UID the archive needs is missing or malformed.
    """
    values = {
        keyword: _text(dataset, keyword)
        for keyword in (
            "PatientID", "IssuerOfPatientID", "PatientName", "PatientBirthDate",
            "PatientSex", "StudyDate", "StudyTime", "AccessionNumber", "StudyID",
            "StudyDescription", "ReferringPhysicianName", "Modality",
            "SeriesNumber", "SeriesDescription", "SeriesDate", "Laterality",
            "ImageLaterality", "InstanceNumber",
        )
    }
    return InstanceRecord(
        sop_class_uid=validate_uid(dataset.get("SOPClassUID"), "SOPClassUID"),
        sop_instance_uid=validate_uid(dataset.get("SOPInstanceUID"), "SOPInstanceUID"),
        study_instance_uid=validate_uid(
            dataset.get("StudyInstanceUID"), "StudyInstanceUID"
        ),
        series_instance_uid=validate_uid(
            dataset.get("SeriesInstanceUID"), "SeriesInstanceUID"
        ),
        values=values,
        attributes=_attributes_by_level(dataset),
    )


def _upsert_patient(session: Session, record: InstanceRecord) -> Patient:
    v = record.values
    patient = session.scalars(
        select(Patient).where(
            Patient.patient_id == v["PatientID"],
            Patient.issuer_of_patient_id == v["IssuerOfPatientID"],
        )
    ).one_or_none()
    if patient is None:
        patient = Patient(patient_id=v["PatientID"], issuer_of_patient_id=v["IssuerOfPatientID"])
        session.add(patient)
    _set_if_changed(
        patient,
        patient_name=v["PatientName"],
        patient_name_key=v["PatientName"].upper(),
        patient_birth_date=v["PatientBirthDate"],
        patient_sex=v["PatientSex"],
        attributes=_merged(patient.attributes, record.attributes[Level.PATIENT]),
    )
    return patient


def _upsert_study(session: Session, record: InstanceRecord, patient: Patient) -> Study:
    v = record.values
    study = session.scalars(
        select(Study).where(Study.study_instance_uid == record.study_instance_uid)
    ).one_or_none()
    if study is None:
        study = Study(study_instance_uid=record.study_instance_uid, patient=patient)
        session.add(study)
    elif study.patient_pk != patient.pk:
        raise StudyConflictError(
            f"study belongs to another patient: {record.study_instance_uid}"
        )
    _set_if_changed(
        study,
        study_date=v["StudyDate"],
        study_time=v["StudyTime"],
        study_time_key=time_key(v["StudyTime"]) if v["StudyTime"] else "",
        accession_number=v["AccessionNumber"],
        study_id=v["StudyID"],
        study_description=v["StudyDescription"],
        referring_physician_name=v["ReferringPhysicianName"],
        referring_physician_name_key=v["ReferringPhysicianName"].upper(),
        attributes=_merged(study.attributes, record.attributes[Level.STUDY]),
    )
    return study


def _upsert_series(session: Session, record: InstanceRecord, study: Study) -> Series:
    v = record.values
    series = session.scalars(
        select(Series).where(Series.series_instance_uid == record.series_instance_uid)
    ).one_or_none()
    if series is None:
        series = Series(series_instance_uid=record.series_instance_uid, study=study)
        session.add(series)
    elif series.study_pk != study.pk:
        raise DicomInputError(
            f"series belongs to another study: {record.series_instance_uid}"
        )
    _set_if_changed(
        series,
        modality=v["Modality"],
        series_number=v["SeriesNumber"],
        series_description=v["SeriesDescription"],
        series_date=v["SeriesDate"],
        laterality=v["Laterality"] or v["ImageLaterality"],
        attributes=_merged(series.attributes, record.attributes[Level.SERIES]),
    )
    return series


def _merged(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """Return the level's attributes with the newest instance's values winning."""
    return {**old, **new} if old else new


def _set_if_changed(row: Any, **columns: Any) -> None:
    for name, value in columns.items():
        if getattr(row, name) != value:
            setattr(row, name, value)


def upsert_instance(
    session: Session,
    record: InstanceRecord,
    *,
    transfer_syntax_uid: str,
    file_path: str,
    file_size: int,
    checksum: str,
    calling_ae_title: str,
) -> str | None:
    """Index an instance, replacing a previous one with the same SOP Instance UID.

    Returns the file path the replaced row named (for the caller to delete once
    the transaction is committed), or ``None`` if the instance is new. The
    caller commits.

    Raises:
        StudyConflictError: the study is indexed under another patient.
        DicomInputError: the series is indexed under another study.
    """
    patient = _upsert_patient(session, record)
    session.flush()
    study = _upsert_study(session, record, patient)
    session.flush()
    series = _upsert_series(session, record, study)
    instance = find_instance(session, record.sop_instance_uid)
    replaced = None
    if instance is None:
        instance = Instance(sop_instance_uid=record.sop_instance_uid)
        session.add(instance)
    elif instance.file_path != file_path:
        replaced = instance.file_path
    instance.series = series
    instance.sop_class_uid = record.sop_class_uid
    instance.instance_number = record.values["InstanceNumber"]
    instance.transfer_syntax_uid = transfer_syntax_uid
    instance.file_path = file_path
    instance.file_size = file_size
    instance.checksum = checksum
    instance.received_at = datetime.now(timezone.utc)
    instance.calling_ae_title = calling_ae_title
    instance.attributes = record.attributes[Level.IMAGE]
    return replaced


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
