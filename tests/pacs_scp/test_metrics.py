"""The archive's Prometheus metrics: associations, stores, queries and retrieves,
read over HTTP from its metrics listener."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, build_role, evt, sop_class
from pynetdicom.association import Association

from imaging_common.dimse import NODELAY_HANDLERS
from imaging_common.metrics import serve_metrics
from imaging_common.sop_classes import STORAGE_COMMITMENT_PUSH, VERIFICATION
from imaging_common.status import NStatus, QueryStatus, StoreStatus
from imaging_common.uids import new_uid
from pacs_scp.commitment import COMMITMENT_INSTANCE_UID
from tests.conftest import DEST_AE, REPO, RunningPacs, free_port
from tests.factory import make_instance
from tests.pacs_scp.test_commitment import Reports, _action
from tests.scrape import Samples, scrape, value

FIND = sop_class.StudyRootQueryRetrieveInformationModelFind
GET = sop_class.StudyRootQueryRetrieveInformationModelGet
MOVE = sop_class.StudyRootQueryRetrieveInformationModelMove
CAPTURE = sop_class.SecondaryCaptureImageStorage
OPERATIONS = "fovea_dimse_operations_total"
ASSOCIATIONS = "fovea_dimse_associations_total"


@pytest.fixture
def metrics_url(pacs: RunningPacs) -> Iterator[str]:
    """The archive's metrics listener on a free port, as ``--metrics-port`` starts it."""
    settings = replace(pacs.settings, node=replace(pacs.settings.node, metrics_port=free_port()))
    listener = serve_metrics(settings)
    assert listener is not None
    yield f"http://127.0.0.1:{listener.port}/metrics"
    listener.shutdown()


def _associate(pacs: RunningPacs, calling: str, *contexts: str, **options: object
               ) -> Association:
    ae = AE(ae_title=calling)
    for uid in contexts:
        ae.add_requested_context(uid)
    return ae.associate("127.0.0.1", pacs.port, ae_title=pacs.ae_title,
                        **options)  # type: ignore[arg-type]


def _study_query(study_uid: str, level: str = "STUDY") -> Dataset:
    query = Dataset()
    query.QueryRetrieveLevel = level
    query.StudyInstanceUID = study_uid
    return query


def _delta(before: Samples, after: Samples) -> Callable[..., float]:
    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)
    return delta


def _store_find_get(pacs: RunningPacs) -> None:
    """A C-STORE, a C-FIND that matches, one the archive refuses, and a C-GET."""
    instance = make_instance()
    assoc = _associate(pacs, "STORESCU", CAPTURE, evt_handlers=NODELAY_HANDLERS)
    assert assoc.send_c_store(instance).Status == StoreStatus.SUCCESS
    assoc.release()

    assoc = _associate(pacs, "FINDSCU", FIND)
    statuses = [s.Status for s, _ in assoc.send_c_find(
        _study_query(instance.StudyInstanceUID), FIND)]
    assert statuses == [QueryStatus.PENDING, QueryStatus.SUCCESS]
    (refused, _), = assoc.send_c_find(_study_query(instance.StudyInstanceUID, "WARD"), FIND)
    assert refused.Status == QueryStatus.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS
    assoc.release()

    received: list[str] = []

    def keep(event: evt.Event) -> int:
        received.append(str(event.dataset.SOPInstanceUID))
        return 0x0000

    assoc = _associate(pacs, "GETSCU", GET, CAPTURE, ext_neg=[build_role(CAPTURE, scp_role=True)],
                       evt_handlers=[(evt.EVT_C_STORE, keep)])
    final = [s.Status for s, _ in assoc.send_c_get(_study_query(instance.StudyInstanceUID),
                                                   GET)][-1]
    assoc.release()
    assert final == 0x0000 and received == [instance.SOPInstanceUID]


def _wait_until_closed(url: str, before: Samples) -> Samples:
    """The metrics once the archive has seen every association end (it learns of a
    release just after the requester)."""
    deadline = time.monotonic() + 10
    while True:
        after = scrape(url)
        open_now = value(after, "fovea_dimse_associations_open", service="pacs")
        if open_now <= value(before, "fovea_dimse_associations_open", service="pacs"):
            return after
        assert time.monotonic() < deadline, f"{open_now} associations still open"
        time.sleep(0.05)


def test_stores_queries_and_retrieves_are_counted_with_their_labels(
        pacs: RunningPacs, metrics_url: str) -> None:
    before = scrape(metrics_url)
    _store_find_get(pacs)
    intruder = _associate(pacs, "INTRUDER", CAPTURE)
    assert intruder.is_rejected
    delta = _delta(before, _wait_until_closed(metrics_url, before))

    for peer in ("STORESCU", "FINDSCU", "GETSCU"):
        assert delta(ASSOCIATIONS, service="pacs", peer_ae=peer, event="established") == 1
        assert delta(ASSOCIATIONS, service="pacs", peer_ae=peer, event="released") == 1
    # An AE title outside the network file never becomes a label of its own.
    assert delta(ASSOCIATIONS, service="pacs", peer_ae="unknown", event="rejected") == 1
    assert delta(ASSOCIATIONS, service="pacs", peer_ae="INTRUDER", event="rejected") == 0

    stored = dict(service="pacs", command="C-STORE", sop_class="SecondaryCaptureImageStorage",
                  level="", status="success")
    assert delta(OPERATIONS, role="performer", **stored) == 1
    # The C-GET's sub-operation: the archive sent that C-STORE itself.
    assert delta(OPERATIONS, role="invoker", **stored) == 1
    find = dict(service="pacs", role="performer", command="C-FIND",
                sop_class="StudyRootQueryRetrieveInformationModelFind")
    assert delta(OPERATIONS, level="STUDY", status="success", **find) == 1
    assert delta(OPERATIONS, level="other", status="failure", **find) == 1
    assert delta(OPERATIONS, service="pacs", role="performer", command="C-GET",
                 sop_class="StudyRootQueryRetrieveInformationModelGet", level="STUDY",
                 status="success") == 1
    durations = "fovea_dimse_operation_duration_seconds_count"
    assert delta(durations, service="pacs", role="performer", command="C-FIND",
                 level="STUDY") == 1
    assert delta(durations, service="pacs", role="performer", command="C-STORE", level="") == 1


def test_a_move_counts_the_sub_operations_association_and_stores(
        pacs: RunningPacs, metrics_url: str, storescp: Path) -> None:
    instance = make_instance()
    assoc = _associate(pacs, "STORESCU", CAPTURE)
    assert assoc.send_c_store(instance).Status == StoreStatus.SUCCESS
    assoc.release()
    before = scrape(metrics_url)
    assoc = _associate(pacs, "MOVESCU", MOVE)
    final = [s.Status for s, _ in assoc.send_c_move(
        _study_query(instance.StudyInstanceUID), DEST_AE, MOVE)][-1]
    assoc.release()
    assert final == 0x0000
    delta = _delta(before, _wait_until_closed(metrics_url, before))
    assert delta(OPERATIONS, service="pacs", role="performer", command="C-MOVE",
                 sop_class="StudyRootQueryRetrieveInformationModelMove", level="STUDY",
                 status="success") == 1
    # The sub-operations' association, which the archive requested of the destination.
    for event in ("established", "released"):
        assert delta(ASSOCIATIONS, service="pacs", peer_ae=DEST_AE, event=event) == 1
    assert delta(OPERATIONS, service="pacs", role="invoker", command="C-STORE",
                 sop_class="SecondaryCaptureImageStorage", level="", status="success") == 1


def test_a_storage_commitment_counts_the_action_and_its_report(
        pacs: RunningPacs, metrics_url: str) -> None:
    before = scrape(metrics_url)
    reports = Reports()
    instance = make_instance()
    assoc = _associate(pacs, "COMMITSCU", CAPTURE, STORAGE_COMMITMENT_PUSH,
                       evt_handlers=[(evt.EVT_N_EVENT_REPORT, reports.handle)])
    assert assoc.send_c_store(instance).Status == StoreStatus.SUCCESS
    status, _ = assoc.send_n_action(
        _action(new_uid(), [(instance.SOPClassUID, instance.SOPInstanceUID)]), 1,
        STORAGE_COMMITMENT_PUSH, COMMITMENT_INSTANCE_UID)
    assert status.Status == NStatus.SUCCESS
    assert reports.arrived.wait(10)
    assoc.release()
    delta = _delta(before, _wait_until_closed(metrics_url, before))
    commitment = dict(service="pacs", sop_class="StorageCommitmentPushModel", level="",
                      status="success")
    assert delta(OPERATIONS, role="performer", command="N-ACTION", **commitment) == 1
    # The report went back on the same association: the archive invoked it.
    assert delta(OPERATIONS, role="invoker", command="N-EVENT-REPORT", **commitment) == 1


def test_python_m_pacs_scp_serves_metrics_on_metrics_port(network_file: Path,
                                                          tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "pacs_scp", "--config", str(network_file), "--port", "0",
         "--data-dir", str(tmp_path / "pacs"), "--log-format", "json",
         "--metrics-port", str(port)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        events = {}
        for line in process.stderr:
            if line.startswith("{"):
                event = json.loads(line)
                events[event["event"]] = event
                if event["event"] == "listening":
                    break
        assert events["metrics served"]["port"] == port
        ae = AE(ae_title="ECHOSCU")
        ae.add_requested_context(VERIFICATION)
        assoc = ae.associate("127.0.0.1", int(events["listening"]["port"]),
                             ae_title="FOVEA_PACS")
        assert assoc.send_c_echo().Status == 0x0000
        assoc.release()
        samples = _wait_until_closed(f"http://127.0.0.1:{port}/metrics", {})
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=20)
    assert process.returncode == 0
    assert f"metrics: http://127.0.0.1:{port}/metrics" in out
    assert value(samples, ASSOCIATIONS, service="pacs", peer_ae="ECHOSCU",
                 event="released") == 1
    assert value(samples, OPERATIONS, service="pacs", role="performer", command="C-ECHO",
                 sop_class="Verification", level="", status="success") == 1
    assert value(samples, "process_cpu_seconds_total") > 0
