"""Log output: JSON lines, and no patient data even when a caller slips."""

from __future__ import annotations

import json

import pytest

from imaging_common.logs import (CORRELATION_HEADER, configure_logging, correlated,
                                 correlation_from_header, correlation_header, get_logger)


def test_patient_fields_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json")
    get_logger("test").info("stored", patient_name="DOE^JANE", PatientID="P1",
                            sop_instance_uid="1.2.3")
    (line,) = capsys.readouterr().err.strip().splitlines()
    event = json.loads(line)
    assert event["sop_instance_uid"] == "1.2.3"
    assert "DOE" not in line and "P1" not in line
    assert event["patient_name"] == event["PatientID"] == "[redacted]"


def test_correlation_ids_join_the_lines_of_their_block_only(
        capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json")
    log = get_logger("test")
    with correlated(accession_number="FV1234", job_id="dr-order-7"):
        log.info("inside")
        assert correlation_header() == {
            CORRELATION_HEADER: "accession_number=FV1234; job_id=dr-order-7"}
    log.info("after")
    inside, after = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert (inside["accession_number"], inside["job_id"]) == ("FV1234", "dr-order-7")
    assert "accession_number" not in after and correlation_header() == {}


def test_a_correlation_header_cannot_write_other_fields_or_text() -> None:
    value = ("accession_number=FV1; job_id=bad id\nforged; patient_name=DOE; "
             "job_id=" + "x" * 65)
    assert correlation_from_header(value) == {"accession_number": "FV1"}
    assert correlation_from_header(None) == {}
    with correlated(accession_number="", job_id=None):
        assert correlation_header() == {}
