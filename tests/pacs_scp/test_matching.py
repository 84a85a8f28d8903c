"""PS3.4 C.2.2.2 matching, without the network: parsers and queries on an index."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydicom.dataset import Dataset
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from imaging_common.exceptions import DicomInputError
from imaging_common.levels import Level
from pacs_scp.index import StoredFile, put_instance, upsert_parents
from pacs_scp.record import record_from_dataset
from pacs_scp.matching import DateTimeRange, SingleValue, UidList, Wildcard, parse_matcher, time_key
from pacs_scp.models import Base, sqlite_pragmas
from pacs_scp.query import parse_query, run_query
from tests.factory import make_instance


@pytest.mark.parametrize(
    ("vr", "value", "expected"),
    [
        ("PN", "", None),
        ("PN", "*", None),
        ("LO", "PAT1", SingleValue("PAT1")),
        ("PN", "doe^jane", SingleValue("doe^jane", case_insensitive=True)),
        ("PN", "DOE*", Wildcard("DOE*", case_insensitive=True)),
        ("SH", "AC?1", Wildcard("AC?1")),
        ("DA", "20260101-20260131", DateTimeRange("DA", "20260101", "20260131")),
        ("DA", "-20260131", DateTimeRange("DA", None, "20260131")),
        ("DA", "20260101-", DateTimeRange("DA", "20260101", None)),
        ("DA", "20260101", SingleValue("20260101")),
        ("UI", "1.2.3\\1.2.4", UidList(("1.2.3", "1.2.4"))),
        ("IS", "1*", SingleValue("1*")),  # no wild cards for numbers (C.2.2.2.4)
    ],
)
def test_parse_matcher(vr: str, value: str, expected: object) -> None:
    assert parse_matcher(vr, value) == expected


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("DOE*", "Doe^Jane", True),
        ("*JANE", "DOE^JANE", True),
        ("D?E^*", "DOE^JANE", True),
        ("D?E", "DOOE", False),
        ("100%*", "100%_X", True),   # SQL metacharacters are literal
        ("100%*", "100X", False),
    ],
)
def test_wildcard_in_python(pattern: str, value: str, matches: bool) -> None:
    assert Wildcard(pattern, case_insensitive=True).test(value) is matches


def test_time_key_pads_for_ranges() -> None:
    assert time_key("0930") == "093000.000000"
    assert time_key("12", upper=True) == "125959.999999"
    assert time_key("10:15:30.5") == "101530.500000"


def test_time_range_includes_whole_minute() -> None:
    matcher = parse_matcher("TM", "-1200")
    assert matcher is not None
    assert matcher.test("120059") and not matcher.test("120100")


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    """An index holding the corpus below, on SQLite and on PostgreSQL."""
    engine = create_engine(database_url)
    sqlite_pragmas(engine)
    Base.metadata.create_all(engine)
    with sessionmaker(engine)() as session:
        for ds in _corpus():
            record = record_from_dataset(ds)
            put_instance(session.connection(), record,
                         upsert_parents(session.connection(), record),
                         StoredFile("1.2.840.10008.1.2.1", ds.SOPInstanceUID, 1, "0", "TEST"),
                         replacing=False)
        session.commit()
        yield session
    engine.dispose()


STUDY_A, STUDY_B, STUDY_C = "1.2.826.1.1", "1.2.826.1.2", "1.2.826.1.3"


def _corpus() -> list[Dataset]:
    return [
        make_instance(patient_id="P1", patient_name="DOE^JANE", study_uid=STUDY_A,
                      series_uid="1.2.826.2.1", sop_uid="1.2.826.3.1", study_date="20260105",
                      modality="OP", accession="ACC1", study_time="0930"),
        make_instance(patient_id="P1", patient_name="DOE^JANE", study_uid=STUDY_A,
                      series_uid="1.2.826.2.1", sop_uid="1.2.826.3.2", study_date="20260105",
                      modality="OP", accession="ACC1", instance_number=2, study_time="0930"),
        make_instance(patient_id="P1", patient_name="DOE^JANE", study_uid=STUDY_A,
                      series_uid="1.2.826.2.2", sop_uid="1.2.826.3.3", study_date="20260105",
                      modality="SR", accession="ACC1", study_time="0930"),
        make_instance(patient_id="P2", patient_name="Smith^John", study_uid=STUDY_B,
                      series_uid="1.2.826.2.3", sop_uid="1.2.826.3.4", study_date="20260220",
                      modality="OP", accession="ACC2", study_time="1415",
                      study_description="Follow-up 100%"),
        make_instance(patient_id="P3", patient_name="MÜLLER^ANNA", study_uid=STUDY_C,
                      series_uid="1.2.826.2.4", sop_uid="1.2.826.3.5", study_date="20251231",
                      modality="CT", accession="ACC3", study_time="2300"),
    ]


def _find(session: Session, patient_root: bool = False, **keys: str) -> list[Dataset]:
    identifier = Dataset()
    for keyword, value in keys.items():
        setattr(identifier, keyword, value)
    return list(run_query(session, parse_query(identifier, patient_root), "FOVEA_PACS"))


def _uids(responses: list[Dataset], keyword: str) -> set[str]:
    return {str(r.get(keyword)) for r in responses}


def test_study_level_exact_and_universal(session: Session) -> None:
    assert _uids(_find(session, QueryRetrieveLevel="STUDY", PatientID="P1",
                       StudyInstanceUID=""), "StudyInstanceUID") == {STUDY_A}
    assert len(_find(session, QueryRetrieveLevel="STUDY", StudyInstanceUID="")) == 3


def test_person_name_wildcard_is_case_insensitive(session: Session) -> None:
    found = _find(session, QueryRetrieveLevel="STUDY", PatientName="smi*", StudyInstanceUID="")
    assert _uids(found, "StudyInstanceUID") == {STUDY_B}
    assert str(found[0].PatientName) == "Smith^John"  # returned as stored


def test_non_ascii_names_match_and_return_utf8(session: Session) -> None:
    found = _find(session, QueryRetrieveLevel="PATIENT", PatientName="mül*", PatientID="",
                  patient_root=True)
    assert _uids(found, "PatientID") == {"P3"}
    assert found[0].SpecificCharacterSet == "ISO_IR 192"


def test_date_ranges(session: Session) -> None:
    def studies(value: str) -> set[str]:
        return _uids(_find(session, QueryRetrieveLevel="STUDY", StudyDate=value,
                           StudyInstanceUID=""), "StudyInstanceUID")

    assert studies("20260101-20260131") == {STUDY_A}
    assert studies("20260101-") == {STUDY_A, STUDY_B}
    assert studies("-20251231") == {STUDY_C}


def test_time_range(session: Session) -> None:
    found = _find(session, QueryRetrieveLevel="STUDY", StudyTime="0900-1500", StudyInstanceUID="")
    assert _uids(found, "StudyInstanceUID") == {STUDY_A, STUDY_B}


def test_uid_list(session: Session) -> None:
    found = _find(session, QueryRetrieveLevel="STUDY",
                  StudyInstanceUID=f"{STUDY_B}\\{STUDY_C}\\1.2.999")
    assert _uids(found, "StudyInstanceUID") == {STUDY_B, STUDY_C}


def test_series_and_image_levels(session: Session) -> None:
    series = _find(session, QueryRetrieveLevel="SERIES", StudyInstanceUID=STUDY_A, Modality="OP",
                   SeriesInstanceUID="", NumberOfSeriesRelatedInstances="")
    assert _uids(series, "SeriesInstanceUID") == {"1.2.826.2.1"}
    assert series[0].NumberOfSeriesRelatedInstances == 2
    images = _find(session, QueryRetrieveLevel="IMAGE", SeriesInstanceUID="1.2.826.2.1",
                   SOPInstanceUID="", InstanceNumber="2")
    assert _uids(images, "SOPInstanceUID") == {"1.2.826.3.2"}


def test_computed_study_keys(session: Session) -> None:
    (study,) = _find(session, QueryRetrieveLevel="STUDY", AccessionNumber="ACC1",
                     ModalitiesInStudy="", NumberOfStudyRelatedInstances="",
                     NumberOfStudyRelatedSeries="")
    assert list(study.ModalitiesInStudy) == ["OP", "SR"]
    assert study.NumberOfStudyRelatedInstances == 3
    assert study.NumberOfStudyRelatedSeries == 2


def test_modalities_in_study_as_matching_key(session: Session) -> None:
    found = _find(session, QueryRetrieveLevel="STUDY", ModalitiesInStudy="SR", StudyInstanceUID="")
    assert _uids(found, "StudyInstanceUID") == {STUDY_A}


def test_key_kept_only_in_json_is_matched(session: Session) -> None:
    # StudyDescription is indexed, but ReferringPhysicianName with a wild card
    # and a series attribute kept in JSON (BodyPartExamined absent) still work.
    found = _find(session, QueryRetrieveLevel="STUDY", StudyDescription="*100%",
                  StudyInstanceUID="")
    assert _uids(found, "StudyInstanceUID") == {STUDY_B}
    found = _find(session, QueryRetrieveLevel="IMAGE", StudyInstanceUID=STUDY_A,
                  SOPInstanceUID="", ContentDate="19000101")
    assert found == []


def test_return_keys_absent_are_empty(session: Session) -> None:
    (study,) = _find(session, QueryRetrieveLevel="STUDY", AccessionNumber="ACC2",
                     StudyDescription="", PatientBirthDate="", IssuerOfPatientID="")
    assert study.StudyDescription == "Follow-up 100%"
    assert study.PatientBirthDate == "19600101"
    assert "IssuerOfPatientID" in study and not study.IssuerOfPatientID
    assert study.RetrieveAETitle == "FOVEA_PACS"


def test_patient_level_needs_patient_root(session: Session) -> None:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "PATIENT"
    with pytest.raises(DicomInputError):
        parse_query(identifier, patient_root=False)
    assert parse_query(identifier, patient_root=True).level is Level.PATIENT


def test_missing_level_is_refused() -> None:
    with pytest.raises(DicomInputError):
        parse_query(Dataset(), patient_root=True)


def test_cancel_stops_the_stream(session: Session) -> None:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "IMAGE"
    identifier.SOPInstanceUID = ""
    calls = iter([False, True])
    results = list(run_query(session, parse_query(identifier, True), "X", lambda: next(calls)))
    assert len(results) == 1
