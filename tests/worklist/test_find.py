"""DCMTK's ``findscu -W`` against the worklist in front of a real EMR.

A catalogue of patients and orders is made through the EMR's own code; each
query's responses are named back to the catalogue by their Accession Number.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pytest
from pydicom.dataset import Dataset

from tests.conftest import dcmtk
from .conftest import (
    STATIONS,
    OrderIds,
    RunningEmr,
    RunningWorklist,
    findscu,
    running_emr,
    running_worklist,
    worklist_config,
    write_network,
)

SPS = "ScheduledProcedureStepSequence[0]."
CAM1, CAM2 = STATIONS
TODAY = datetime.now(UTC).date()

#: Patient -> (MRN, family name, given name, birth date, sex).
PATIENTS = {
    "doe": ("WL-001", "Doe", "Jane", date(1961, 4, 12), "F"),
    "doerr": ("WL-002", "Doerr", "John", date(1975, 6, 15), "M"),
    "smith": ("WL-003", "Smith", "Anna", date(1980, 1, 31), "F"),
    "muller": ("WL-004", "Müller", "Jörg", date(1949, 11, 2), "M"),
}
#: Order -> (patient, days from today, time HHMM, station, states the order then went to).
ORDERS = {
    "A": ("doe", 1, "0930", CAM1, ()),
    "B": ("doerr", 1, "1400", CAM1, ()),
    "C": ("smith", 2, "1000", CAM2, ()),
    "D": ("doe", 5, "0800", CAM2, ()),
    "E": ("muller", 10, "1115", CAM1, ()),
    "F": ("smith", 2, "1600", CAM1, ("in_progress",)),
    "G": ("doerr", 1, "1100", CAM1, ("discontinued",)),
    "H": ("smith", 3, "0900", CAM2, ("in_progress", "acquired")),
}
#: Orders whose procedure step is on the worklist: scheduled or in progress.
ON_WORKLIST = {"A", "B", "C", "D", "E", "F"}


def day(days: int) -> str:
    """A date ``days`` from today, as DICOM writes it."""
    return (TODAY + timedelta(days=days)).strftime("%Y%m%d")


@dataclass
class Catalogue:
    emr: RunningEmr
    worklist: RunningWorklist
    orders: dict[str, OrderIds]

    def names(self, responses: list[Dataset]) -> list[str]:
        by_accession = {ids.accession_number: name for name, ids in self.orders.items()}
        return [by_accession.get(str(r.AccessionNumber), "?") for r in responses]


def _make_catalogue(emr: RunningEmr) -> dict[str, OrderIds]:
    patients = {name: emr.add_patient(*details) for name, details in PATIENTS.items()}
    orders = {}
    for name, (patient, days, hhmm, station, states) in ORDERS.items():
        when = datetime.combine(TODAY + timedelta(days=days),
                                time(int(hhmm[:2]), int(hhmm[2:])), UTC)
        orders[name] = emr.add_order(patients[patient], when, station)
        emr.move(orders[name].id, *states, reason="patient moved away")
    return orders


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalogue]:
    """The catalogue in an EMR, and a worklist in front of it that caches for a minute."""
    folder = tmp_path_factory.mktemp("worklist-find")
    with running_emr(folder) as emr:
        orders = _make_catalogue(emr)
        network = write_network(folder / "network.toml", emr.port, cache_seconds=60)
        with running_worklist(worklist_config(network, folder / "worklist")) as worklist:
            yield Catalogue(emr, worklist, orders)


#: Matching kind -> [(matching keys, the orders that match)].
FIND_CASES: dict[str, list[tuple[dict[str, str | None], set[str]]]] = {
    "universal": [
        ({}, ON_WORKLIST),
        ({"PatientName": None, f"{SPS}ScheduledStationAETitle": None}, ON_WORKLIST),
        ({"PatientName": "*"}, ON_WORKLIST),
    ],
    "station": [
        ({f"{SPS}ScheduledStationAETitle": CAM2}, {"C", "D"}),
        ({f"{SPS}ScheduledStationAETitle": CAM1}, {"A", "B", "E", "F"}),
        ({f"{SPS}ScheduledStationAETitle": "FUNDUS_CAM9"}, set()),
    ],
    "modality": [
        ({f"{SPS}Modality": "OP"}, ON_WORKLIST),
        ({f"{SPS}Modality": "MR"}, set()),
        ({f"{SPS}Modality": "OP", f"{SPS}ScheduledStationAETitle": CAM2}, {"C", "D"}),
    ],
    "date": [
        ({f"{SPS}ScheduledProcedureStepStartDate": day(1)}, {"A", "B"}),
        ({f"{SPS}ScheduledProcedureStepStartDate": f"{day(1)}-{day(2)}"}, {"A", "B", "C", "F"}),
        ({f"{SPS}ScheduledProcedureStepStartDate": f"{day(5)}-"}, {"D", "E"}),
        ({f"{SPS}ScheduledProcedureStepStartDate": f"-{day(2)}"}, {"A", "B", "C", "F"}),
        ({f"{SPS}ScheduledProcedureStepStartDate": day(4)}, set()),
    ],
    "date_and_time": [
        # One date with a time range; a date range with a time range is one
        # date-time range (PS3.4 C.2.2.2.5.1); a time range alone.
        ({f"{SPS}ScheduledProcedureStepStartDate": day(1),
          f"{SPS}ScheduledProcedureStepStartTime": "1000-1500"}, {"B"}),
        ({f"{SPS}ScheduledProcedureStepStartDate": f"{day(1)}-{day(2)}",
          f"{SPS}ScheduledProcedureStepStartTime": "0900-1030"}, {"A", "B", "C"}),
        ({f"{SPS}ScheduledProcedureStepStartTime": "0800-0930"}, {"A", "D"}),
    ],
    "patient_name": [
        ({"PatientName": "doe*"}, {"A", "B", "D"}),
        ({"PatientName": "DOE^JANE"}, {"A", "D"}),
        ({"PatientName": "doe^jane"}, {"A", "D"}),
        ({"PatientName": "d?e*"}, {"A", "B", "D"}),
        ({"PatientName": "*ANNA"}, {"C", "F"}),
        ({"PatientName": "Doe"}, set()),
    ],
    "patient_id": [
        ({"PatientID": "WL-003"}, {"C", "F"}),
        ({"PatientID": "WL-00?"}, ON_WORKLIST),
        ({"PatientID": "wl-003"}, set()),
    ],
    "combined": [
        ({"PatientName": "doe*", f"{SPS}ScheduledStationAETitle": CAM1}, {"A", "B"}),
        ({"PatientID": "WL-001", f"{SPS}ScheduledProcedureStepStartDate": f"{day(3)}-"}, {"D"}),
    ],
}


@pytest.mark.parametrize("kind", list(FIND_CASES))
def test_findscu_matching(catalogue: Catalogue, kind: str) -> None:
    """Each kind of matching key selects exactly the scheduled orders it names."""
    for keys, expected in FIND_CASES[kind]:
        responses, _ = findscu(catalogue.worklist, {"AccessionNumber": None, **keys})
        assert sorted(catalogue.names(responses)) == sorted(expected), keys


def test_findscu_matching_by_identifiers(catalogue: Catalogue) -> None:
    """Accession Number, Requested Procedure ID and Study Instance UID select one order."""
    a, d = catalogue.orders["A"], catalogue.orders["D"]
    for keys, expected in [
        ({"AccessionNumber": a.accession_number}, ["A"]),
        ({"AccessionNumber": "FV*", "RequestedProcedureID": d.requested_procedure_id}, ["D"]),
        ({"AccessionNumber": None, "StudyInstanceUID": a.study_instance_uid}, ["A"]),
        ({"AccessionNumber": catalogue.orders["G"].accession_number}, []),
    ]:
        responses, _ = findscu(catalogue.worklist, keys)
        assert catalogue.names(responses) == expected, keys


def test_responses_come_in_scheduled_order(catalogue: Catalogue) -> None:
    responses, output = findscu(catalogue.worklist, {"AccessionNumber": None})
    assert catalogue.names(responses) == ["A", "B", "C", "F", "D", "E"]
    assert "Received Final Find Response (Success)" in output


#: Return keys asked for, and what the item of order E gives each.
RETURN_KEYS: dict[str, str] = {
    "PatientName": "Müller^Jörg",
    "PatientBirthDate": "19491102",
    "PatientSex": "M",
    "ReferringPhysicianName": "Nightingale^Florence",
    "RequestedProcedureDescription": "AI diabetic retinopathy screening",
    "RequestedProcedurePriority": "ROUTINE",
    "AdmissionID": "",
    "PatientWeight": "",
}
STEP_KEYS: dict[str, str] = {
    "ScheduledStationAETitle": CAM1,
    "ScheduledProcedureStepStartDate": day(10),
    "ScheduledProcedureStepStartTime": "111500",
    "Modality": "OP",
    "ScheduledProcedureStepDescription": "Fundus photography, both eyes",
    "ScheduledProcedureStepStatus": "SCHEDULED",
    "ScheduledStationName": "",
}


def test_return_keys_are_what_was_asked(catalogue: Catalogue) -> None:
    """Every asked key comes back, valued or empty, and nothing else (PS3.4 C.2.2.1.2);
    inside the step only the asked keys; Unicode names intact."""
    e = catalogue.orders["E"]
    keys: dict[str, str | None] = {
        "SpecificCharacterSet": "ISO_IR 192", "PatientID": "WL-004",
        "AccessionNumber": None, "RequestedProcedureID": None, "StudyInstanceUID": None,
        **dict.fromkeys(RETURN_KEYS), **{f"{SPS}{k}": None for k in STEP_KEYS},
        f"{SPS}ScheduledProcedureStepID": None}
    (response,), _ = findscu(catalogue.worklist, keys)
    assert response.SpecificCharacterSet == "ISO_IR 192"
    assert {k: str(response[k].value or "") for k in RETURN_KEYS} == RETURN_KEYS
    assert (response.AccessionNumber, response.RequestedProcedureID,
            response.StudyInstanceUID) == (e.accession_number, e.requested_procedure_id,
                                           e.study_instance_uid)
    asked = {"SpecificCharacterSet", "PatientID", "AccessionNumber", "RequestedProcedureID",
             "StudyInstanceUID", "ScheduledProcedureStepSequence", *RETURN_KEYS}
    assert {element.keyword for element in response} == asked
    (step,) = response.ScheduledProcedureStepSequence
    assert {k: str(step[k].value or "") for k in STEP_KEYS} == STEP_KEYS
    assert step.ScheduledProcedureStepID.startswith("SPS")
    assert {element.keyword for element in step} == {*STEP_KEYS, "ScheduledProcedureStepID"}


def test_empty_sequences_return_whole_items(catalogue: Catalogue) -> None:
    """An empty sequence key asks for the entire sequence (PS3.4 C.2.2.2.6)."""
    keys: dict[str, str | None] = {
        "AccessionNumber": catalogue.orders["A"].accession_number,
        "RequestedProcedureCodeSequence": None, f"{SPS}ScheduledProtocolCodeSequence": None}
    (response,), _ = findscu(catalogue.worklist, keys)
    for code in (response.RequestedProcedureCodeSequence[0],
                 response.ScheduledProcedureStepSequence[0].ScheduledProtocolCodeSequence[0]):
        assert (code.CodeValue, code.CodingSchemeDesignator) == ("FOVEA-DRS", "99FOVEA")
    (everything,), _ = findscu(catalogue.worklist, {
        "AccessionNumber": catalogue.orders["F"].accession_number,
        "ScheduledProcedureStepSequence": None})
    step = everything.ScheduledProcedureStepSequence[0]
    assert step.ScheduledProcedureStepStatus == "STARTED"  # order F is in progress
    assert step.ScheduledStationAETitle == CAM1


def test_unknown_calling_ae_title_is_rejected(catalogue: Catalogue) -> None:
    responses, output = findscu(catalogue.worklist, {"PatientName": None},
                                calling="STRANGER", check=False)
    assert responses == []
    assert "Association Rejected" in output
    assert "Calling AE Title Not Recognized" in output


def test_echoscu_is_answered(catalogue: Catalogue) -> None:
    result = dcmtk("echoscu", "-v", "-aet", "FUNDUS_CAM1", *catalogue.worklist.address())
    assert "Received Echo Response (Success)" in result.stdout + result.stderr


def test_findscu_cancel_stops_the_matches(emr: RunningEmr, worklist: RunningWorklist) -> None:
    """A C-CANCEL after the first response ends the C-FIND with status Cancel."""
    many = 80
    patient = emr.add_patient("WL-100", "Many", "Orders", date(1970, 1, 1), "O")
    start = datetime.combine(TODAY + timedelta(days=1), time(8), UTC)
    for number in range(many):
        emr.add_order(patient, start + timedelta(minutes=number))
    responses, output = findscu(worklist, {"AccessionNumber": None}, "--cancel", "1")
    assert 1 <= len(responses) < many
    assert "Received Final Find Response (Cancel" in output


def test_bad_identifier_is_refused(catalogue: Catalogue) -> None:
    """A date that is not DICOM's gets Identifier Does Not Match SOP Class, not an answer."""
    responses, output = findscu(catalogue.worklist,
                                {f"{SPS}ScheduledProcedureStepStartDate": "20241345"},
                                check=False)
    assert responses == []
    # 0xA900, which DCMTK names after the storage status of the same code.
    assert "Received Final Find Response (Error: DataSetDoesNotMatchSOPClass)" in output
