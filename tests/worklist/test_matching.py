"""Worklist matching and response shaping (PS3.4 C.2.2.2, K.6.1.2), on items built
from EMR orders as the API gives them."""

from __future__ import annotations

from typing import Any

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from imaging_common.exceptions import DicomInputError
from worklist.items import order_to_item
from worklist.matching import match, respond, validate_query

STUDY_UID = "2.25.1234567890"


def order(**changes: Any) -> dict[str, Any]:
    """An order as ``GET /api/v1/orders`` gives it, with its patient."""
    body: dict[str, Any] = {
        "id": 7, "accession_number": "FVABC", "requested_procedure_id": "RPABC",
        "scheduled_procedure_step_id": "SPSABC", "study_instance_uid": STUDY_UID,
        "requested_procedure_description": "AI diabetic retinopathy screening",
        "state": "scheduled", "laterality": "right", "priority": "HIGH", "reason": "",
        "ordering_user_name": "Florence Nightingale",
        "scheduled_station_ae_title": "FUNDUS_CAM1",
        "scheduled_at": "2026-03-02T09:30:00+00:00",
        "patient": {"patient_id": "MRN-1", "patient_name": "Doe^Jane",
                    "birth_date": "1961-04-12", "sex": "F"},
    }
    body.update(changes)
    return body


ITEM = order_to_item(order())


def query(**keys: Any) -> Dataset:
    """A query; ``step`` gives the Scheduled Procedure Step item's keys."""
    ds = Dataset()
    step = keys.pop("step", None)
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    if step is not None:
        item = Dataset()
        for keyword, value in step.items():
            setattr(item, keyword, value)
        ds.ScheduledProcedureStepSequence = [item]
    return ds


@pytest.mark.parametrize(("keys", "expected"), [
    ({}, True),
    ({"PatientName": ""}, True),
    ({"PatientName": "*"}, True),
    ({"PatientName": "Doe^Jane"}, True),
    ({"PatientName": "DOE^JANE"}, True),
    ({"PatientName": "doe^jane^^"}, True),  # trailing empty components
    ({"PatientName": "do?^*"}, True),
    ({"PatientName": "Doe"}, False),
    ({"PatientName": "Roe*"}, False),
    ({"PatientID": "MRN-1"}, True),
    ({"PatientID": "mrn-1"}, False),  # only names ignore case
    ({"PatientID": "MRN-?"}, True),
    ({"AccessionNumber": "FVABC"}, True),
    ({"AccessionNumber": "FVABD"}, False),
    ({"StudyInstanceUID": f"2.25.1\\{STUDY_UID}"}, True),  # list of UID matching
    ({"StudyInstanceUID": "2.25.1\\2.25.2"}, False),
    ({"ReferringPhysicianName": "nightingale*"}, True),
    ({"PatientWeight": "70"}, False),  # the item has no value for it
])
def test_top_level_keys(keys: dict[str, Any], expected: bool) -> None:
    assert match(query(**keys), ITEM) is expected


@pytest.mark.parametrize(("step", "expected"), [
    ({"ScheduledStationAETitle": "FUNDUS_CAM1"}, True),
    ({"ScheduledStationAETitle": "FUNDUS_CAM2"}, False),
    ({"Modality": "OP"}, True),
    ({"Modality": "CT"}, False),
    ({"ScheduledProcedureStepStartDate": "20260302"}, True),
    ({"ScheduledProcedureStepStartDate": "20260301-20260303"}, True),
    ({"ScheduledProcedureStepStartDate": "20260303-"}, False),
    ({"ScheduledProcedureStepStartDate": "-20260302"}, True),
    ({"ScheduledProcedureStepStartTime": "0930"}, True),  # HHMM covers 09:30:00-09:30:59
    ({"ScheduledProcedureStepStartTime": "0903"}, False),
    ({"ScheduledProcedureStepStartTime": "09"}, True),
    ({"ScheduledProcedureStepStartTime": "0800-0929"}, False),
    ({"ScheduledProcedureStepStartTime": "0930-"}, True),
    # Date and time together are one date-time range (PS3.4 C.2.2.2.5.1).
    ({"ScheduledProcedureStepStartDate": "20260302",
      "ScheduledProcedureStepStartTime": "0900-1000"}, True),
    ({"ScheduledProcedureStepStartDate": "20260301-20260302",
      "ScheduledProcedureStepStartTime": "1000-0930"}, True),  # 03-01 10:00 to 03-02 09:30
    ({"ScheduledProcedureStepStartDate": "20260301-20260302",
      "ScheduledProcedureStepStartTime": "1000-0929"}, False),
    ({"ScheduledProcedureStepStartDate": "20260302",
      "ScheduledProcedureStepStartTime": "1000-1100"}, False),
    ({"ScheduledProcedureStepStartDate": "20260302-",
      "ScheduledProcedureStepStartTime": "0931-"}, False),
    ({"ScheduledStationAETitle": "", "Modality": ""}, True),
])
def test_scheduled_procedure_step_keys(step: dict[str, Any], expected: bool) -> None:
    assert match(query(step=step), ITEM) is expected


def test_an_empty_sequence_item_matches_anything() -> None:
    empty = Dataset()
    empty.ScheduledProcedureStepSequence = [Dataset()]
    assert match(empty, ITEM)
    no_steps = order_to_item(order())
    no_steps.ScheduledProcedureStepSequence = Sequence()
    assert match(empty, no_steps)
    assert not match(query(step={"Modality": "OP"}), no_steps)


def test_response_holds_only_the_asked_keys() -> None:
    asked = query(PatientName="doe*", PatientID="", AdmissionID="",
                  step={"Modality": "OP", "ScheduledStationAETitle": "",
                        "ScheduledStationName": ""})
    response = respond(asked, ITEM)
    assert [e.keyword for e in response] == [
        "SpecificCharacterSet", "PatientName", "PatientID", "AdmissionID",
        "ScheduledProcedureStepSequence"]
    assert (response.PatientName, response.PatientID, response.AdmissionID) == (
        "Doe^Jane", "MRN-1", None)
    (step,) = response.ScheduledProcedureStepSequence
    assert [e.keyword for e in step] == [
        "Modality", "ScheduledStationAETitle", "ScheduledStationName"]
    assert (step.Modality, step.ScheduledStationAETitle, step.ScheduledStationName) == (
        "OP", "FUNDUS_CAM1", None)


def test_a_zero_length_sequence_returns_the_whole_sequence() -> None:
    asked = Dataset()
    asked.RequestedProcedureCodeSequence = []
    asked.ScheduledProcedureStepSequence = [Dataset()]
    response = respond(asked, ITEM)
    assert response.RequestedProcedureCodeSequence[0].CodeValue == "FOVEA-DRS"
    step = response.ScheduledProcedureStepSequence[0]
    assert step.ScheduledProcedureStepDescription == "Fundus photography, right eye"
    assert step.ScheduledProtocolCodeSequence[0].CodingSchemeDesignator == "99FOVEA"


@pytest.mark.filterwarnings("ignore:Invalid value for VR")  # pydicom, as they are set
@pytest.mark.parametrize(("keys", "message"), [
    ({"PatientBirthDate": "1961-04-12x"}, "not a DICOM date"),
    ({"PatientBirthDate": "19611312"}, "not a DICOM date"),
    ({"step": {"ScheduledProcedureStepStartTime": "2500"}}, "not a DICOM time"),
    ({"step": {"ScheduledProcedureStepStartTime": "093"}}, "not a DICOM time"),
])
def test_malformed_dates_and_times_are_refused(keys: dict[str, Any], message: str) -> None:
    with pytest.raises(DicomInputError, match=message):
        validate_query(query(**keys))


def test_one_scheduled_procedure_step_item_at_most() -> None:
    two = Dataset()
    two.ScheduledProcedureStepSequence = [Dataset(), Dataset()]
    with pytest.raises(DicomInputError, match="one item"):
        validate_query(two)
    validate_query(query(step={"Modality": "OP"}))
