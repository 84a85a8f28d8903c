"""Who and what an image belongs to: the patient, the request, the equipment.

These are the inputs every builder shares. They validate at construction, so a
builder never writes a dataset with a malformed name, date or identifier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from pydicom.dataset import Dataset
from pydicom.valuerep import PersonName

from imaging_common.exceptions import DicomInputError
from imaging_common.uids import validate_uid

__all__ = ["Equipment", "Patient", "Request"]

#: PS3.5 6.2: LO values hold at most 64 characters; SH at most 16.
_LO_MAX = 64
_SH_MAX = 16
#: Characters a PN component group may not contain besides its delimiters.
_PN_FORBIDDEN = re.compile(r"[\\\x00-\x1f]")


def _check_length(keyword: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise DicomInputError(f"{keyword} is longer than {limit} characters")
    if "\\" in value:
        raise DicomInputError(f"{keyword} contains a backslash")


def _check_person_name(keyword: str, value: str) -> None:
    """PS3.5 6.2.1: at most five ``^``-separated components of 64 characters."""
    if _PN_FORBIDDEN.search(value):
        raise DicomInputError(f"{keyword} contains a control character or backslash")
    for group in value.split("="):
        components = group.split("^")
        if len(components) > 5 or any(len(c) > _LO_MAX for c in components):
            raise DicomInputError(f"{keyword} is not a valid DICOM person name")


@dataclass(frozen=True)
class Patient:
    """The Patient module's identity (PS3.3 C.7.1.1)."""

    patient_id: str
    patient_name: str = ""
    birth_date: date | None = None
    sex: str = ""
    issuer_of_patient_id: str = ""

    def __post_init__(self) -> None:
        if not self.patient_id.strip():
            raise DicomInputError("PatientID is empty")
        _check_length("PatientID", self.patient_id, _LO_MAX)
        _check_length("IssuerOfPatientID", self.issuer_of_patient_id, _LO_MAX)
        _check_person_name("PatientName", self.patient_name)
        if self.sex not in ("", "M", "F", "O"):
            raise DicomInputError("PatientSex must be M, F, O or empty")

    def apply(self, ds: Dataset) -> None:
        """Write the Patient module into ``ds``."""
        ds.PatientName = PersonName(self.patient_name)
        ds.PatientID = self.patient_id
        if self.issuer_of_patient_id:
            ds.IssuerOfPatientID = self.issuer_of_patient_id
        ds.PatientBirthDate = self.birth_date.strftime("%Y%m%d") if self.birth_date else ""
        ds.PatientSex = self.sex


@dataclass(frozen=True)
class Request:
    """What was ordered: the identifiers a worklist item hands the modality.

    PS3.17 J.2.2 (IHE Scheduled Workflow): the image carries the Study Instance
    UID and Accession Number of the order, and a Request Attributes Sequence
    with the Requested Procedure ID and Scheduled Procedure Step ID.
    """

    study_instance_uid: str
    accession_number: str = ""
    requested_procedure_id: str = ""
    scheduled_procedure_step_id: str = ""
    requested_procedure_description: str = ""
    study_id: str = ""
    referring_physician_name: str = ""

    def __post_init__(self) -> None:
        validate_uid(self.study_instance_uid, "StudyInstanceUID")
        _check_length("AccessionNumber", self.accession_number, _SH_MAX)
        _check_length("RequestedProcedureID", self.requested_procedure_id, _SH_MAX)
        _check_length("ScheduledProcedureStepID", self.scheduled_procedure_step_id, _SH_MAX)
        _check_length("RequestedProcedureDescription",
                      self.requested_procedure_description, _LO_MAX)
        _check_length("StudyID", self.study_id, _SH_MAX)
        _check_person_name("ReferringPhysicianName", self.referring_physician_name)

    def apply(self, ds: Dataset) -> None:
        """Write the General Study identifiers and the Request Attributes Sequence."""
        ds.StudyInstanceUID = self.study_instance_uid
        ds.AccessionNumber = self.accession_number
        ds.StudyID = self.study_id or self.requested_procedure_id
        ds.ReferringPhysicianName = PersonName(self.referring_physician_name)
        if self.requested_procedure_description:
            ds.StudyDescription = self.requested_procedure_description
        if self.requested_procedure_id or self.scheduled_procedure_step_id:
            item = Dataset()
            item.AccessionNumber = self.accession_number
            item.StudyInstanceUID = self.study_instance_uid
            item.RequestedProcedureID = self.requested_procedure_id
            item.ScheduledProcedureStepID = self.scheduled_procedure_step_id
            if self.requested_procedure_description:
                item.RequestedProcedureDescription = self.requested_procedure_description
            ds.RequestAttributesSequence = [item]


@dataclass(frozen=True)
class Equipment:
    """The General Equipment module (PS3.3 C.7.5.1) of the device writing the object."""

    manufacturer: str = "Fovea"
    model_name: str = ""
    station_name: str = ""
    device_serial_number: str = ""
    software_versions: str = ""
    institution_name: str = ""

    def apply(self, ds: Dataset) -> None:
        ds.Manufacturer = self.manufacturer
        for keyword in ("model_name", "station_name", "device_serial_number",
                        "software_versions", "institution_name"):
            value = getattr(self, keyword)
            if value:
                name = "".join(part.capitalize() for part in keyword.split("_"))
                setattr(ds, "ManufacturerModelName" if keyword == "model_name" else name, value)
