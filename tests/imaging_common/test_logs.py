"""Log output: JSON lines, and no patient data even when a caller slips."""

from __future__ import annotations

import json

import pytest

from imaging_common.logs import configure_logging, get_logger


def test_patient_fields_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json")
    get_logger("test").info("stored", patient_name="DOE^JANE", PatientID="P1",
                            sop_instance_uid="1.2.3")
    (line,) = capsys.readouterr().err.strip().splitlines()
    event = json.loads(line)
    assert event["sop_instance_uid"] == "1.2.3"
    assert "DOE" not in line and "P1" not in line
    assert event["patient_name"] == event["PatientID"] == "[redacted]"
