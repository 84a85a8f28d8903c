"""The worklist's Prometheus metrics: MWL C-FIND and MPPS N-CREATE/N-SET, read over
HTTP from its metrics listener; ``python -m worklist --metrics-port`` serves them."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pynetdicom import AE

from imaging_common.metrics import serve_metrics
from imaging_common.sop_classes import VERIFICATION
from imaging_common.status import NStatus
from imaging_common.uids import new_uid
from tests.conftest import REPO, free_port
from tests.scrape import Samples, scrape, value
from worklist.config import TOKEN_VARIABLE

from .conftest import (
    TOKEN,
    RunningEmr,
    findscu,
    running_worklist,
    worklist_config,
    write_network,
)
from .test_mpps import Station, completion, creation

OPERATIONS = "fovea_dimse_operations_total"
ASSOCIATIONS = "fovea_dimse_associations_total"
MWL = "ModalityWorklistInformationModelFind"
MPPS = "ModalityPerformedProcedureStep"


def _operations(samples: Samples, command: str, sop_class: str, status: str) -> float:
    return value(samples, OPERATIONS, service="worklist", role="performer", command=command,
                 sop_class=sop_class, level="", status=status)


def test_worklist_queries_and_procedure_steps_are_counted(emr: RunningEmr,
                                                          tmp_path: Path) -> None:
    patient = emr.add_patient("MRN-METRICS-1", "Quintessa", "Zed", date(1950, 5, 6), "F")
    order = emr.add_order(patient, datetime.now(UTC) + timedelta(hours=1))
    network = write_network(tmp_path / "network.toml", emr.port)
    config = worklist_config(network, tmp_path / "worklist", TOKEN,
                             "--metrics-port", str(free_port()))
    listener = serve_metrics(config.settings)
    assert listener is not None
    url = f"http://127.0.0.1:{listener.port}/metrics"
    try:
        with running_worklist(config) as worklist:
            before = scrape(url)
            (item,), _ = findscu(worklist, {"PatientName": "quint*", "PatientID": None})
            assert item.PatientID == "MRN-METRICS-1"
            refused, _ = findscu(worklist, {"PatientBirthDate": "1950-05-06x"}, check=False)
            assert refused == []
            station, uid = Station(worklist), str(new_uid())
            assert station.create(creation(order), uid).Status == NStatus.SUCCESS
            assert station.set(completion(), uid).Status == NStatus.SUCCESS
            assert station.set(completion(), uid).Status != NStatus.SUCCESS  # final already
            text_after = scrape(url)
    finally:
        listener.shutdown()

    def delta(command: str, sop: str, status: str) -> float:
        return (_operations(text_after, command, sop, status)
                - _operations(before, command, sop, status))

    assert delta("C-FIND", MWL, "success") == 1
    assert delta("C-FIND", MWL, "failure") == 1
    assert delta("N-CREATE", MPPS, "success") == 1
    assert delta("N-SET", MPPS, "success") == 1
    assert delta("N-SET", MPPS, "failure") == 1
    established = {peer: value(text_after, ASSOCIATIONS, service="worklist", peer_ae=peer,
                               event="established")
                   - value(before, ASSOCIATIONS, service="worklist", peer_ae=peer,
                           event="established")
                   for peer in ("FINDSCU", "FUNDUS_CAM1")}
    assert established == {"FINDSCU": 2, "FUNDUS_CAM1": 3}
    durations = ("fovea_dimse_operation_duration_seconds_count",
                 {"service": "worklist", "role": "performer", "command": "C-FIND", "level": ""})
    assert value(text_after, durations[0], **durations[1]) \
        - value(before, durations[0], **durations[1]) == 2
    for secret in ("MRN-METRICS-1", "Quintessa", "QUINTESSA", order.accession_number):
        assert all(secret not in label for _, labels in text_after for _, label in labels)


def test_python_m_worklist_serves_metrics_on_metrics_port(tmp_path: Path) -> None:
    network = write_network(tmp_path / "network.toml", emr_port=free_port())
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), TOKEN_VARIABLE: TOKEN,
           "FOVEA_METRICS_PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "worklist", "--config", str(network), "--port", "0",
         "--data-dir", str(tmp_path / "worklist"), "--log-format", "json"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stderr is not None
        events = {}
        for line in process.stderr:
            if line.startswith("{"):
                event = json.loads(line)
                events[event["event"]] = event
                if event["event"] == "listening":
                    break
        ae = AE(ae_title="FUNDUS_CAM1")
        ae.add_requested_context(VERIFICATION)
        assoc = ae.associate("127.0.0.1", int(events["listening"]["port"]),
                             ae_title="FOVEA_MWL")
        assert assoc.send_c_echo().Status == 0x0000
        assoc.release()
        samples = scrape(f"http://127.0.0.1:{port}/metrics")
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=20)
    assert process.returncode == 0
    assert f"metrics: http://127.0.0.1:{port}/metrics" in out
    assert value(samples, ASSOCIATIONS, service="worklist", peer_ae="FUNDUS_CAM1",
                 event="established") == 1
    assert value(samples, OPERATIONS, service="worklist", role="performer", command="C-ECHO",
                 sop_class="Verification", level="", status="success") == 1
