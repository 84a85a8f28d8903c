"""Modality Performed Procedure Step rules (PS3.4 F.7): what an N-CREATE and an N-SET
must hold, and which changes of state they may make.

A step is created IN PROGRESS (F.7.2.1.2), may be updated while IN PROGRESS,
and ends COMPLETED or DISCONTINUED, after which it may no longer be updated
(F.7.2.2.2, Error ID A710). This module knows nothing about associations, files
or the EMR; :class:`MppsError` carries the status an SCP answers.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from imaging_common.exceptions import DicomInputError
from imaging_common.status import MppsErrorId, NStatus
from imaging_common.uids import validate_uid

__all__ = ["COMPLETED", "DISCONTINUED", "FINAL_STATUSES", "IN_PROGRESS", "MppsError",
           "discontinuation_reason", "validate_create", "validate_set"]

#: Performed Procedure Step Status (0040,0252) values (PS3.3 C.4.14).
IN_PROGRESS, COMPLETED, DISCONTINUED = "IN PROGRESS", "COMPLETED", "DISCONTINUED"
FINAL_STATUSES = frozenset({COMPLETED, DISCONTINUED})

#: Type 1 attributes of an N-CREATE (PS3.4 Table F.7.2-1, N-CREATE column).
CREATE_TYPE1 = ("ScheduledStepAttributesSequence", "PerformedStationAETitle",
                "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime",
                "PerformedProcedureStepStatus", "PerformedProcedureStepID", "Modality")
#: Type 2 attributes an N-CREATE must carry, empty or not: the patient's
#: identity and the attributes the final state fills in (Table F.7.2-1).
CREATE_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                "PerformedProcedureStepEndDate", "PerformedProcedureStepEndTime",
                "PerformedSeriesSequence")
#: Attributes an N-SET may not change (Table F.7.2-1, N-SET column "Not allowed").
SET_NOT_ALLOWED = frozenset({
    "ScheduledStepAttributesSequence", "PatientName", "PatientID", "IssuerOfPatientID",
    "OtherPatientIDsSequence", "PatientBirthDate", "PatientSex", "ReferencedPatientSequence",
    "PerformedProcedureStepID", "PerformedStationAETitle", "PerformedStationName",
    "PerformedLocation", "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime",
    "Modality", "StudyID", "SOPClassUID", "SOPInstanceUID"})
#: Type 1 attributes of a step in its final state (Table F.7.2-1, Final State column).
FINAL_TYPE1 = ("PerformedProcedureStepEndDate", "PerformedProcedureStepEndTime",
               "PerformedSeriesSequence")
#: Type 1 attributes of each Performed Series Sequence item in the final state.
SERIES_TYPE1 = ("SeriesInstanceUID", "ProtocolName")
#: Type 1 attributes of each Referenced Image Sequence item (SOP Instance Reference).
IMAGE_TYPE1 = ("ReferencedSOPClassUID", "ReferencedSOPInstanceUID")


class MppsError(DicomInputError):
    """A step refused, with the DIMSE status (and Error ID) to answer.

    Attributes:
        status: the N-CREATE or N-SET failure status (PS3.4 F.7.2.1.2, F.7.2.2.2).
        error_id: the Error ID (0000,0903) to send with it, if any.
    """

    def __init__(self, status: NStatus, comment: str, error_id: int | None = None) -> None:
        super().__init__(comment)
        self.status = status
        self.error_id = error_id


def _require(ds: Dataset, keyword: str, where: str = "the step") -> None:
    """Type 1: present (0x0120 Missing Attribute) and not empty (0x0121)."""
    if keyword not in ds:
        raise MppsError(NStatus.MISSING_ATTRIBUTE, f"{where} lacks {keyword}")
    if ds[keyword].value in (None, "", [], b""):
        raise MppsError(NStatus.MISSING_ATTRIBUTE_VALUE, f"{where} has no {keyword}")


def validate_create(ds: Dataset) -> None:
    """Check an N-CREATE's Attribute List (PS3.4 F.7.2.1).

    Raises:
        MppsError: a Type 1 attribute missing (0x0120) or empty (0x0121), a
            Type 2 one missing (0x0120), a status other than IN PROGRESS or a
            Study Instance UID that is not a UID (0x0106).
    """
    for keyword in CREATE_TYPE1:
        _require(ds, keyword)
    for keyword in CREATE_TYPE2:
        if keyword not in ds:
            raise MppsError(NStatus.MISSING_ATTRIBUTE, f"the step lacks {keyword}")
    if ds.PerformedProcedureStepStatus != IN_PROGRESS:
        raise MppsError(NStatus.INVALID_ATTRIBUTE_VALUE,
                        "a new step's status must be IN PROGRESS")
    for item in ds.ScheduledStepAttributesSequence:
        _require(item, "StudyInstanceUID", "a Scheduled Step Attributes item")
        try:
            validate_uid(item.StudyInstanceUID, "StudyInstanceUID")
        except DicomInputError as exc:
            raise MppsError(NStatus.INVALID_ATTRIBUTE_VALUE, str(exc)) from None


def _check_final(step: Dataset) -> None:
    """The Final State requirements of Table F.7.2-1: end date and time, and at
    least one performed series, each naming its images."""
    for keyword in FINAL_TYPE1:
        _require(step, keyword, "the final step")
    for series in step.PerformedSeriesSequence:
        for keyword in SERIES_TYPE1:
            _require(series, keyword, "a Performed Series item")
        for image in series.get("ReferencedImageSequence") or ():
            for keyword in IMAGE_TYPE1:
                _require(image, keyword, "a Referenced Image item")


def validate_set(current: Dataset, changes: Dataset) -> Dataset:
    """Check an N-SET against the stored step and return the updated step (F.7.2.2).

    Raises:
        MppsError: the step is final already (0x0110 with Error ID A710), a
            change is not allowed or the status is not a step status (0x0106),
            or the final state lacks what Table F.7.2-1 requires (0x0120, 0x0121).
    """
    if current.get("PerformedProcedureStepStatus") in FINAL_STATUSES:
        raise MppsError(NStatus.PROCESSING_FAILURE, "the step may no longer be updated",
                        MppsErrorId.MAY_NO_LONGER_BE_UPDATED)
    for element in changes:
        if element.keyword in SET_NOT_ALLOWED:
            raise MppsError(NStatus.INVALID_ATTRIBUTE_VALUE,
                            f"{element.keyword} may not be changed by N-SET")
    updated = Dataset()
    updated.update(current)
    updated.update(changes)
    status = updated.get("PerformedProcedureStepStatus")
    if status not in (IN_PROGRESS, *FINAL_STATUSES):
        raise MppsError(NStatus.INVALID_ATTRIBUTE_VALUE,
                        "the status must be IN PROGRESS, COMPLETED or DISCONTINUED")
    if status in FINAL_STATUSES:
        _check_final(updated)
    return updated


def discontinuation_reason(step: Dataset, peer: str) -> str:
    """Why a step was discontinued, as the EMR records it: the meaning of the
    Discontinuation Reason Code (PS3.3 C.4.14, CID 9300), else who did it."""
    for code in step.get("PerformedProcedureStepDiscontinuationReasonCodeSequence") or ():
        if code.get("CodeMeaning"):
            return f"MPPS discontinued: {code.CodeMeaning}"[:200]
    return f"MPPS discontinued by {peer}"
