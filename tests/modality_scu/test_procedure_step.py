"""The MPPS attribute lists (imaging_common.builders.procedure_step) the station sends:
what PS3.4 Table F.7.2-1 asks of an N-CREATE and of a final N-SET."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydicom.uid import OphthalmicPhotography8BitImageStorage

from imaging_common.builders import (
    DiscontinuationReason,
    PerformedSeries,
    build_step_completed,
    build_step_discontinued,
    build_step_in_progress,
)
from imaging_common.exceptions import DicomInputError
from imaging_common.uids import new_uid
from modality_scu.worklist_query import WorklistItem

from .conftest import Order, worklist_item

ORDER = Order()
#: Type 1 and Type 2 attributes of the N-CREATE (PS3.4 Table F.7.2-1).
N_CREATE_KEYWORDS = (
    "ScheduledStepAttributesSequence", "PatientName", "PatientID", "PatientBirthDate",
    "PatientSex", "ReferencedPatientSequence", "PerformedProcedureStepID",
    "PerformedStationAETitle", "PerformedStationName", "PerformedLocation",
    "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime",
    "PerformedProcedureStepStatus", "PerformedProcedureStepDescription",
    "PerformedProcedureTypeDescription", "ProcedureCodeSequence",
    "PerformedProcedureStepEndDate", "PerformedProcedureStepEndTime", "Modality", "StudyID",
    "PerformedProtocolCodeSequence", "PerformedSeriesSequence")


def _series(images: int = 2) -> PerformedSeries:
    return PerformedSeries(str(new_uid()), "Fundus photography", tuple(
        (OphthalmicPhotography8BitImageStorage, str(new_uid())) for _ in range(images)),
        retrieve_ae_title="FOVEA_PACS", operators_name="Technician^Tess")


def test_in_progress_carries_the_worklist_item() -> None:
    item = WorklistItem.from_dataset(worklist_item(ORDER))
    ds = build_step_in_progress(item.step, item.patient, performed_procedure_step_id="PPS1",
                                station_ae_title="FUNDUS_CAM1",
                                started_at=datetime(2026, 11, 22, 9, 41, 5))
    for keyword in N_CREATE_KEYWORDS:
        assert keyword in ds, keyword
    assert ds.PerformedProcedureStepStatus == "IN PROGRESS"
    assert (ds.PerformedProcedureStepStartDate, ds.PerformedProcedureStepStartTime) == (
        "20261122", "094105")
    assert ds.PerformedProcedureStepEndDate is None and len(ds.PerformedSeriesSequence) == 0
    (scheduled,) = ds.ScheduledStepAttributesSequence
    assert scheduled.StudyInstanceUID == ORDER.study_instance_uid
    assert scheduled.AccessionNumber == ORDER.accession_number
    assert scheduled.RequestedProcedureID == ORDER.requested_procedure_id
    assert scheduled.ScheduledProcedureStepID == ORDER.scheduled_procedure_step_id
    assert scheduled.ScheduledProtocolCodeSequence[0].CodeValue == "FOVEA-DRS"
    assert ds.ProcedureCodeSequence[0].CodeValue == "FOVEA-DRS"
    assert (ds.PatientID, str(ds.PatientName)) == (ORDER.patient_id, ORDER.patient_name)


def test_completed_lists_every_image() -> None:
    series = _series(2)
    ds = build_step_completed(datetime(2026, 11, 22, 9, 50), [series])
    assert ds.PerformedProcedureStepStatus == "COMPLETED"
    (item,) = ds.PerformedSeriesSequence
    assert [i.ReferencedSOPInstanceUID for i in item.ReferencedImageSequence] == [
        uid for _, uid in series.images]
    assert item.ProtocolName == "Fundus photography" and item.RetrieveAETitle == "FOVEA_PACS"
    assert "ReferencedNonImageCompositeSOPInstanceSequence" in item


def test_discontinued_says_why() -> None:
    ds = build_step_discontinued(datetime(2026, 11, 22, 9, 50), [_series(0)],
                                 DiscontinuationReason.PATIENT_REFUSED)
    assert ds.PerformedProcedureStepStatus == "DISCONTINUED"
    (code,) = ds.PerformedProcedureStepDiscontinuationReasonCodeSequence
    assert (code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning) == (
        "110505", "DCM", "Patient refused to continue procedure")


@pytest.mark.parametrize("make", [
    lambda: build_step_completed(datetime.now(), [_series(0)]),
    lambda: build_step_completed(datetime.now(), []),
    lambda: PerformedSeries(str(new_uid()), " "),
    lambda: PerformedSeries("not-a-uid", "Fundus photography"),
    lambda: PerformedSeries(str(new_uid()), "Fundus", retrieve_ae_title="A" * 17),
])
def test_invalid_steps_are_refused(make: object) -> None:
    with pytest.raises(DicomInputError):
        make()  # type: ignore[operator]
