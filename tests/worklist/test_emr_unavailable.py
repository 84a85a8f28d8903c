"""The EMR away or refusing: a C-FIND gets Unable to Process and a clear log line,
never an empty success a station would take for "no patients"."""

from __future__ import annotations

import re
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from structlog.testing import capture_logs

from imaging_common.status import QueryStatus
from tests.conftest import free_port
from .conftest import (
    findscu,
    running_emr,
    running_worklist,
    worklist_config,
    write_network,
)

FAILED = "Received Final Find Response (Failed: UnableToProcess)"


def _final_status(output: str) -> int:
    """The Status of findscu's last C-FIND-RSP in its ``-d`` dump."""
    statuses = re.findall(r"^D: DIMSE Status\s+: (0x[0-9a-fA-F]{4})", output, re.M)
    assert statuses, output
    return int(statuses[-1], 16)


def test_emr_not_listening_answers_unable_to_process(tmp_path: Path) -> None:
    network = write_network(tmp_path / "network.toml", free_port())
    with running_worklist(worklist_config(network, tmp_path / "worklist")) as worklist:
        with capture_logs() as events:
            responses, output = findscu(worklist, {"PatientName": None}, "-d", check=False)
    assert responses == []
    assert _final_status(output) == QueryStatus.UNABLE_TO_PROCESS
    assert "[the EMR is unavailable]" in output  # the Error Comment
    (failure,) = [e for e in events if e["log_level"] == "error"]
    assert failure["event"] == "worklist find failed: no scheduled orders from the EMR"
    assert "unreachable" in failure["reason"] and failure["peer"] == "FINDSCU"


def test_emr_gone_after_answering(tmp_path: Path) -> None:
    """Orders were served; the EMR stops; the next query fails instead of answering none."""
    with ExitStack() as emr_running:
        emr = emr_running.enter_context(running_emr(tmp_path))
        patient = emr.add_patient("WL-200", "Gone", "Soon", date(1950, 5, 5), "F")
        emr.add_order(patient, datetime.now(UTC) + timedelta(days=1))
        network = write_network(tmp_path / "network.toml", emr.port)
        with running_worklist(worklist_config(network, tmp_path / "worklist")) as worklist:
            before, _ = findscu(worklist, {"PatientID": None})
            assert [str(r.PatientID) for r in before] == ["WL-200"]
            emr_running.close()
            after, output = findscu(worklist, {"PatientID": None}, check=False)
    assert after == []
    assert FAILED in output


def test_emr_refusing_the_token_answers_unable_to_process(tmp_path: Path) -> None:
    with running_emr(tmp_path) as emr:
        patient = emr.add_patient("WL-201", "Kept", "Out", date(1950, 5, 5), "F")
        emr.add_order(patient, datetime.now(UTC) + timedelta(days=1))
        network = write_network(tmp_path / "network.toml", emr.port)
        config = worklist_config(network, tmp_path / "worklist", "not-the-token")
        with running_worklist(config) as worklist, capture_logs() as events:
            responses, output = findscu(worklist, {"PatientID": None}, check=False)
    assert responses == []
    assert FAILED in output
    (failure,) = [e for e in events if e["log_level"] == "error"]
    assert "401 invalid_token" in failure["reason"]
    assert "WL-201" not in repr(events)
