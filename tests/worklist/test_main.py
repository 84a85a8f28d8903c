"""``python -m worklist`` as an operator runs it: it serves a station in front of the EMR,
stops cleanly on SIGTERM, and writes no patient data to its log."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from imaging_common.status import NStatus
from imaging_common.uids import new_uid
from tests.conftest import REPO
from worklist.config import TOKEN_VARIABLE

from .conftest import TOKEN, RunningEmr, RunningWorklist, findscu, worklist_config, write_network
from .test_mpps import Station, completion, creation

#: What identifies the patient; none of it may reach the log.
SECRETS = ("Quixotic", "QUIXOTIC", "Xanthippe", "MRN-SECRET-42", "19370203", "1937-02-03")


Started = tuple[subprocess.Popen[str], int, list[str]]


def _start(network: Path, data_dir: Path, env: dict[str, str]) -> Started:
    """Start the worklist; return it, its port, and the log lines read so far."""
    process = subprocess.Popen(
        [sys.executable, "-m", "worklist", "--config", str(network), "--port", "0",
         "--data-dir", str(data_dir), "--log-format", "json"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert process.stderr is not None
    lines = []
    for line in process.stderr:
        lines.append(line)
        if '"event": "listening"' in line:
            return process, int(json.loads(line)["port"]), lines
    raise RuntimeError(f"the worklist exited before listening: {process.wait()}\n{lines}")


@pytest.mark.filterwarnings("ignore:Invalid value for VR DA")  # the test's own malformed date
def test_python_m_worklist_serves_a_station(emr: RunningEmr, tmp_path: Path) -> None:
    patient = emr.add_patient("MRN-SECRET-42", "Quixotic", "Xanthippe", date(1937, 2, 3), "F")
    order = emr.add_order(patient, datetime.now(UTC) + timedelta(hours=2))
    network = write_network(tmp_path / "network.toml", emr.port)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), TOKEN_VARIABLE: TOKEN}
    process, port, lines = _start(network, tmp_path / "worklist", env)
    try:
        worklist = RunningWorklist(worklist_config(network, tmp_path / "worklist"), port)
        (item,), _ = findscu(worklist, {"PatientName": "quix*", "PatientID": None,
                                        "PatientBirthDate": None}, calling="FUNDUS_CAM1")
        assert (item.PatientID, item.PatientBirthDate) == ("MRN-SECRET-42", "19370203")
        # A malformed value the worklist refuses, without quoting it.
        refused, _ = findscu(worklist, {"PatientBirthDate": "1937-02-03x"},
                             calling="FUNDUS_CAM1", check=False)
        assert refused == []
        # A malformed Type 2 value the step keeps; pydicom would quote it on reading.
        step = creation(order)
        step.PatientBirthDate = "1937-02-03x"
        station, uid = Station(worklist), str(new_uid())
        assert station.create(step, uid).Status == NStatus.SUCCESS
        assert station.set(completion(), uid).Status == NStatus.SUCCESS
    finally:
        process.terminate()
        out, errors = process.communicate(timeout=20)
    assert process.returncode == 0
    assert "Fovea worklist ready" in out
    log = "".join(lines) + errors
    events = [json.loads(line)["event"] for line in log.splitlines() if line.startswith("{")]
    assert {"worklist find", "worklist find refused", "mpps created", "mpps updated",
            "stopping"} <= set(events)
    for secret in SECRETS:
        assert secret not in log
    assert emr.state(order.id)[0] == "acquired"
    assert (tmp_path / "worklist" / "mpps" / f"{uid}.json").exists()


def test_without_a_token_it_exits_with_a_message(tmp_path: Path) -> None:
    network = write_network(tmp_path / "network.toml", emr_port=5999)
    result = subprocess.run(
        [sys.executable, "-m", "worklist", "--config", str(network)], cwd=REPO,
        capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 2
    assert "FOVEA_EMR_TOKEN_WORKLIST is not set" in result.stderr
