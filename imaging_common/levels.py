"""The DICOM information model levels and which attributes belong to each.

PS3.4 C.6 arranges the query/retrieve model as PATIENT > STUDY > SERIES > IMAGE.
An attribute belongs to the level of the module that holds it (PS3.3): the
Patient module to PATIENT, General Study and Patient Study to STUDY, General
Series, Frame of Reference and General Equipment to SERIES; anything else to
IMAGE.
"""

from __future__ import annotations

from enum import Enum

from pydicom.datadict import keyword_for_tag, tag_for_keyword

__all__ = ["Level", "level_of_tag", "UNIQUE_KEYS"]


class Level(str, Enum):
    """Query/Retrieve Level (0008,0052) values, in hierarchy order."""

    PATIENT = "PATIENT"
    STUDY = "STUDY"
    SERIES = "SERIES"
    IMAGE = "IMAGE"

    @property
    def depth(self) -> int:
        """0 for PATIENT down to 3 for IMAGE."""
        return list(Level).index(self)


#: The unique key of each level (PS3.4 C.6.1.1 and C.6.2.1).
UNIQUE_KEYS: dict[Level, str] = {
    Level.PATIENT: "PatientID",
    Level.STUDY: "StudyInstanceUID",
    Level.SERIES: "SeriesInstanceUID",
    Level.IMAGE: "SOPInstanceUID",
}

# Patient Study module attributes (PS3.3 C.7.2.2): in group 0010 but per study.
_PATIENT_STUDY = {
    "PatientAge", "PatientSize", "PatientWeight", "PatientBodyMassIndex",
    "Occupation", "AdditionalPatientHistory", "SmokingStatus", "PregnancyStatus",
    "LastMenstrualDate", "PatientSexNeutered", "MedicalAlerts", "Allergies",
}

_STUDY = {
    "StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber",
    "IssuerOfAccessionNumberSequence", "StudyID", "StudyDescription",
    "ReferringPhysicianName", "ReferringPhysicianIdentificationSequence",
    "ConsultingPhysicianName", "ProcedureCodeSequence", "PhysiciansOfRecord",
    "NameOfPhysiciansReadingStudy", "AdmittingDiagnosesDescription",
    "AdmittingDiagnosesCodeSequence", "ReasonForPerformedProcedureCodeSequence",
    "RequestingService", *_PATIENT_STUDY,
}

_SERIES = {
    "SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDate", "SeriesTime",
    "SeriesDescription", "SeriesDescriptionCodeSequence", "BodyPartExamined",
    "Laterality", "PerformingPhysicianName", "OperatorsName", "ProtocolName",
    "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime",
    "PerformedProcedureStepEndDate", "PerformedProcedureStepEndTime",
    "PerformedProcedureStepID", "PerformedProcedureStepDescription",
    "PerformedProtocolCodeSequence", "RequestAttributesSequence",
    "ReferencedPerformedProcedureStepSequence", "PatientPosition",
    "FrameOfReferenceUID", "PositionReferenceIndicator", "Manufacturer",
    "InstitutionName", "InstitutionAddress", "StationName",
    "InstitutionalDepartmentName", "ManufacturerModelName", "DeviceSerialNumber",
    "SoftwareVersions", "SpatialResolution", "DateOfLastCalibration",
    "TimeOfLastCalibration",
}

_LEVEL_OF_TAG: dict[int, Level] = {
    **{tag_for_keyword(k) or 0: Level.STUDY for k in _STUDY},
    **{tag_for_keyword(k) or 0: Level.SERIES for k in _SERIES},
}


def level_of_tag(tag: int) -> Level:
    """Return the level whose entity holds the attribute ``tag``."""
    level = _LEVEL_OF_TAG.get(tag)
    if level is not None:
        return level
    if tag >> 16 == 0x0010 and keyword_for_tag(tag) not in _PATIENT_STUDY:
        return Level.PATIENT
    return Level.IMAGE
