"""Modality Performed Procedure Step (PS3.4 F.7): what a modality tells the worklist.

A modality creates a step IN PROGRESS when it starts on a worklist item
(N-CREATE, PS3.4 F.7.2.1) and ends it COMPLETED, listing every image it made,
or DISCONTINUED with a reason (N-SET, F.7.2.2). The attribute lists follow
PS3.4 Table F.7.2-1: every Type 1 and Type 2 attribute of the N-CREATE is
present (Type 2 ones empty when unknown), and the final N-SET carries what the
"Final State" column asks for: the end date and time and the Performed Series
Sequence with each series' images.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.valuerep import PersonName

from imaging_common.builders.identity import Patient, Request
from imaging_common.codes import Code
from imaging_common.exceptions import ConfigError, DicomInputError
from imaging_common.settings import validate_ae_title
from imaging_common.uids import validate_uid

__all__ = [
    "COMPLETED",
    "DISCONTINUED",
    "DiscontinuationReason",
    "IN_PROGRESS",
    "PerformedSeries",
    "ScheduledStep",
    "build_step_completed",
    "build_step_discontinued",
    "build_step_in_progress",
]

#: Performed Procedure Step Status (0040,0252) values (PS3.3 C.4.14).
IN_PROGRESS, COMPLETED, DISCONTINUED = "IN PROGRESS", "COMPLETED", "DISCONTINUED"

#: PS3.5 6.2: SH values hold at most 16 characters, LO at most 64.
_SH_MAX, _LO_MAX = 16, 64


class DiscontinuationReason(enum.Enum):
    """Why a step was discontinued: CID 9300 Procedure Discontinuation Reason (PS3.16)."""

    UNSPECIFIED = Code("110513", "DCM", "Discontinued for unspecified reason")
    INCORRECT_WORKLIST_ENTRY = Code("110514", "DCM", "Incorrect worklist entry selected")
    PATIENT_REFUSED = Code("110505", "DCM", "Patient refused to continue procedure")
    PATIENT_CONDITION = Code("110515", "DCM", "Patient condition prevented continuing")
    EQUIPMENT_FAILURE = Code("110501", "DCM", "Equipment failure")
    INCORRECT_SIDE = Code("110512", "DCM", "Incorrect side ordered")

    @property
    def meaning(self) -> str:
        """The code meaning, for a person to read."""
        return str(self.value.meaning)


def _check_text(keyword: str, value: str, limit: int) -> None:
    if len(value) > limit or "\\" in value:
        raise DicomInputError(f"{keyword} is longer than {limit} characters or has a backslash")


@dataclass(frozen=True)
class ScheduledStep:
    """The worklist item a step performs: one Scheduled Step Attributes item.

    Args:
        request: the order's identifiers (Study Instance UID, Accession Number,
            Requested Procedure ID and description, Scheduled Procedure Step ID).
        description: the Scheduled Procedure Step Description.
        protocol_codes: the Scheduled Protocol Code Sequence of the item, which
            the step also reports as performed (PS3.4 F.7.2.1).
        procedure_codes: the Requested Procedure Code Sequence of the item,
            reported as the step's Procedure Code Sequence.
    """

    request: Request
    description: str = ""
    protocol_codes: tuple[Code, ...] = ()
    procedure_codes: tuple[Code, ...] = ()

    def __post_init__(self) -> None:
        _check_text("ScheduledProcedureStepDescription", self.description, _LO_MAX)

    def item(self) -> Dataset:
        """The Scheduled Step Attributes Sequence item (PS3.4 Table F.7.2-1)."""
        request = self.request
        item = Dataset()
        item.StudyInstanceUID = request.study_instance_uid
        item.ReferencedStudySequence = DicomSequence()
        item.AccessionNumber = request.accession_number
        item.RequestedProcedureID = request.requested_procedure_id
        item.RequestedProcedureDescription = request.requested_procedure_description
        item.ScheduledProcedureStepID = request.scheduled_procedure_step_id
        item.ScheduledProcedureStepDescription = self.description
        item.ScheduledProtocolCodeSequence = DicomSequence(
            [code.to_item() for code in self.protocol_codes])
        return item


@dataclass(frozen=True)
class PerformedSeries:
    """One Performed Series Sequence item: a series the step made and its images.

    Args:
        series_instance_uid: the series' UID.
        protocol_name: the protocol it was acquired with (Type 1).
        images: (Referenced SOP Class UID, Referenced SOP Instance UID) of every image.
        series_description: the Series Description of the images.
        operators_name: who operated the modality, as a DICOM person name.
        retrieve_ae_title: where the images can be retrieved (the archive).
    """

    series_instance_uid: str
    protocol_name: str
    images: tuple[tuple[str, str], ...] = ()
    series_description: str = ""
    operators_name: str = ""
    retrieve_ae_title: str = ""

    def __post_init__(self) -> None:
        validate_uid(self.series_instance_uid, "SeriesInstanceUID")
        if not self.protocol_name.strip():
            raise DicomInputError("ProtocolName is empty")
        _check_text("ProtocolName", self.protocol_name, _LO_MAX)
        _check_text("SeriesDescription", self.series_description, _LO_MAX)
        for sop_class_uid, sop_instance_uid in self.images:
            validate_uid(sop_class_uid, "ReferencedSOPClassUID")
            validate_uid(sop_instance_uid, "ReferencedSOPInstanceUID")
        if self.retrieve_ae_title:
            try:
                validate_ae_title(self.retrieve_ae_title)
            except ConfigError as exc:
                raise DicomInputError(str(exc)) from None

    def item(self) -> Dataset:
        """The Performed Series Sequence item (PS3.4 Table F.7.2-1)."""
        series = Dataset()
        series.PerformingPhysicianName = PersonName("")
        series.ProtocolName = self.protocol_name
        series.OperatorsName = PersonName(self.operators_name)
        series.SeriesInstanceUID = self.series_instance_uid
        series.SeriesDescription = self.series_description
        series.RetrieveAETitle = self.retrieve_ae_title
        references = []
        for sop_class_uid, sop_instance_uid in self.images:
            reference = Dataset()
            reference.ReferencedSOPClassUID = sop_class_uid
            reference.ReferencedSOPInstanceUID = sop_instance_uid
            references.append(reference)
        series.ReferencedImageSequence = DicomSequence(references)
        series.ReferencedNonImageCompositeSOPInstanceSequence = DicomSequence()
        return series


def build_step_in_progress(
    step: ScheduledStep,
    patient: Patient,
    *,
    performed_procedure_step_id: str,
    station_ae_title: str,
    started_at: datetime,
    station_name: str = "",
    description: str = "",
    modality: str = "OP",
) -> Dataset:
    """The N-CREATE Attribute List of a step that starts on ``step`` (PS3.4 F.7.2.1).

    Args:
        step: the worklist item performed.
        patient: the patient, as the worklist item names them.
        performed_procedure_step_id: the station's identifier of the step (SH).
        station_ae_title: the Performed Station AE Title.
        started_at: when the step started (local time).
        station_name: the Performed Station Name.
        description: the Performed Procedure Step Description.
        modality: the modality of the images the step makes.

    Raises:
        DicomInputError: an identifier does not fit its value representation.
    """
    if not performed_procedure_step_id.strip():
        raise DicomInputError("PerformedProcedureStepID is empty")
    _check_text("PerformedProcedureStepID", performed_procedure_step_id, _SH_MAX)
    _check_text("PerformedStationName", station_name, _SH_MAX)
    _check_text("PerformedProcedureStepDescription", description, _LO_MAX)
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    # Performed Procedure Step Relationship
    ds.ScheduledStepAttributesSequence = DicomSequence([step.item()])
    patient.apply(ds)
    ds.ReferencedPatientSequence = DicomSequence()
    ds.AdmissionID = ""
    ds.IssuerOfAdmissionIDSequence = DicomSequence()
    # Performed Procedure Step Information
    ds.PerformedProcedureStepID = performed_procedure_step_id
    ds.PerformedStationAETitle = station_ae_title
    ds.PerformedStationName = station_name
    ds.PerformedLocation = ""
    ds.PerformedProcedureStepStartDate = started_at.strftime("%Y%m%d")
    ds.PerformedProcedureStepStartTime = started_at.strftime("%H%M%S")
    ds.PerformedProcedureStepStatus = IN_PROGRESS
    ds.PerformedProcedureStepDescription = description
    ds.PerformedProcedureTypeDescription = ""
    ds.ProcedureCodeSequence = DicomSequence([c.to_item() for c in step.procedure_codes])
    ds.PerformedProcedureStepEndDate = None
    ds.PerformedProcedureStepEndTime = None
    # Image Acquisition Results
    ds.Modality = modality
    ds.StudyID = step.request.study_id or step.request.requested_procedure_id
    ds.PerformedProtocolCodeSequence = DicomSequence(
        [c.to_item() for c in step.protocol_codes])
    ds.PerformedSeriesSequence = DicomSequence()
    return ds


def _final(status: str, ended_at: datetime, series: Sequence[PerformedSeries]) -> Dataset:
    """The N-SET Modification List of a final state (PS3.4 F.7.2.2, Final State column)."""
    if not series:
        raise DicomInputError("a final step lists at least one performed series")
    ds = Dataset()
    ds.PerformedProcedureStepStatus = status
    ds.PerformedProcedureStepEndDate = ended_at.strftime("%Y%m%d")
    ds.PerformedProcedureStepEndTime = ended_at.strftime("%H%M%S")
    ds.PerformedSeriesSequence = DicomSequence([s.item() for s in series])
    return ds


def build_step_completed(ended_at: datetime, series: Sequence[PerformedSeries]) -> Dataset:
    """The N-SET that ends a step COMPLETED, listing every image it made.

    Raises:
        DicomInputError: no series, or no image in any of them.
    """
    if not any(s.images for s in series):
        raise DicomInputError("a completed step lists the images it made")
    return _final(COMPLETED, ended_at, series)


def build_step_discontinued(ended_at: datetime, series: Sequence[PerformedSeries],
                            reason: DiscontinuationReason) -> Dataset:
    """The N-SET that ends a step DISCONTINUED, with the images made so far (maybe
    none: the series item then names the series that was begun) and the reason
    (Performed Procedure Step Discontinuation Reason Code Sequence, CID 9300).

    Raises:
        DicomInputError: no series.
    """
    ds = _final(DISCONTINUED, ended_at, series)
    ds.PerformedProcedureStepDiscontinuationReasonCodeSequence = DicomSequence(
        [reason.value.to_item()])
    return ds
