"""The AI node when things go wrong, and its results as another DICOM peer sees them.

Real peers as in :mod:`tests.ai_node.test_node_pipeline`; here workers also
run as ``python -m ai_node.worker`` processes, one of them killed mid-job.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import OphthalmicPhotography8BitImageStorage, SecondaryCaptureImageStorage
from pynetdicom import evt
from redis import Redis

from ai_node.config import AiConfig
from ai_node.dispatch import Dispatcher
from ai_node.emr_api import EmrApi
from ai_node.inbox import Inbox
from ai_node.stages import Stage
from tests.ai_node.node_peers import (STATION_AE, LiveEmr, LivePacs, photographs, run_worker,
                                      send_to_pacs, spawn_worker)
from tests.ai_node.test_node_pipeline import SR_CLASSES, by_class, dciodvfy_errors
from tests.conftest import dcmtk

pytest_plugins = ["tests.ai_node.node_fixtures"]

#: Seconds any wait on a condition below may take before the test fails.
WAIT = 30.0


def wait_for(condition: Callable[[], object], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def graded_order(live_emr: LiveEmr, live_pacs: LivePacs) -> tuple[int, str]:
    order_id = live_emr.add_order()
    send_to_pacs(live_pacs, photographs(live_emr, order_id))
    return order_id, live_emr.order(order_id).study_instance_uid


def assert_one_result(live_pacs: LivePacs, live_emr: LiveEmr, order_id: int,
                      study_uid: str) -> None:
    """Two photographs, one SR and two SCs on the PACS; one result in the EMR."""
    stored = by_class(live_pacs, study_uid)
    assert len(stored[OphthalmicPhotography8BitImageStorage]) == 2
    assert len(stored[SecondaryCaptureImageStorage]) == 2
    assert sum(len(stored.get(cls, [])) for cls in SR_CLASSES) == 1
    order = live_emr.order(order_id)
    assert order.state.value == "ai_done" and len(order.results) == 1


@pytest.fixture
def slow_pacs(live_pacs: LivePacs) -> Iterator[threading.Event]:
    """While the event is set, the PACS waits half a second on every DIMSE message."""
    slow = threading.Event()

    def delay(event: evt.Event) -> None:
        if slow.is_set():
            time.sleep(0.5)

    live_pacs.server.bind(evt.EVT_DIMSE_RECV, delay)
    yield slow
    slow.clear()


def _keys(level: str, **keys: str) -> list[str]:
    options = ["-k", f"QueryRetrieveLevel={level}"]
    for keyword, value in keys.items():
        options += ["-k", f"{keyword}={value}"]
    return options


def _findscu(address: list[str], out: Path, level: str, **keys: str) -> list[Dataset]:
    """findscu (Study Root) from the station's AE; the response identifiers."""
    out.mkdir()
    dcmtk("findscu", "-S", "-aet", STATION_AE, "-aec", "FOVEA_PACS", *address, "-X",
          "-od", str(out), *_keys(level, **keys))
    return [pydicom.dcmread(path) for path in sorted(out.glob("rsp*.dcm"))]


def test_dcmtk_finds_and_gets_the_results_from_the_pacs(
        live_pacs: LivePacs, live_emr: LiveEmr, storage_scp: Inbox, ai_config: AiConfig,
        dispatcher: Dispatcher, redis: Redis, tmp_path: Path) -> None:
    order_id, study_uid = graded_order(live_emr, live_pacs)
    dispatcher.enqueue(order_id, "nurse")
    assert run_worker(ai_config, redis)
    summary = dispatcher.job(order_id).return_value()
    results = {summary["sr_sop_instance_uid"], *summary["sc_sop_instance_uids"]}
    address = [live_pacs.node.host, str(live_pacs.node.port)]

    series = _findscu(address, tmp_path / "series", "SERIES", StudyInstanceUID=study_uid,
                      SeriesInstanceUID="", Modality="")
    assert sorted(str(ds.Modality) for ds in series) == ["OP", "OT", "SR"]
    images = _findscu(address, tmp_path / "images", "IMAGE", StudyInstanceUID=study_uid,
                      SeriesInstanceUID="", SOPInstanceUID="")
    listed = {str(ds.SOPInstanceUID) for ds in images}
    assert results <= listed and len(listed) == 5

    out = tmp_path / "got"
    out.mkdir()
    for uid in sorted(results):
        dcmtk("getscu", "-S", "-aet", STATION_AE, "-aec", "FOVEA_PACS", *address,
              "-od", str(out), *_keys("IMAGE", StudyInstanceUID=study_uid,
                                      SeriesInstanceUID=_series_of(live_pacs, uid),
                                      SOPInstanceUID=uid))
    files = sorted(out.iterdir())
    assert {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID)
            for p in files} == results
    for path in files:
        assert dciodvfy_errors(path) == [], path.name


def _series_of(pacs: LivePacs, sop_instance_uid: str) -> str:
    for path in pacs.archive.glob("*/*/*.dcm"):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        if ds.SOPInstanceUID == sop_instance_uid:
            return str(ds.SeriesInstanceUID)
    raise AssertionError(f"{sop_instance_uid} is not archived")


def test_a_job_of_a_killed_worker_is_retried_by_another_and_reported_once(
        live_pacs: LivePacs, live_emr: LiveEmr, storage_scp: Inbox, ai_config: AiConfig,
        dispatcher: Dispatcher, redis: Redis, slow_pacs: threading.Event) -> None:
    order_id, study_uid = graded_order(live_emr, live_pacs)
    slow_pacs.set()
    first = spawn_worker(ai_config)
    try:
        dispatcher.enqueue(order_id, "nurse")
        wait_for(lambda: dispatcher.job(order_id).meta.get("stage") == Stage.RETRIEVING,
                 "the first worker to retrieve")
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=10)
    finally:
        first.stop()
    slow_pacs.clear()
    job = dispatcher.job(order_id)
    assert job.get_status() == "started" and live_emr.order(order_id).state.value == "ai_running"
    registry = dispatcher.queue.started_job_registry
    wait_for(registry.get_expired_job_ids, "the killed worker's heartbeat to expire",
             timeout=3 * ai_config.heartbeat + 5)

    assert run_worker(ai_config, redis)  # its first maintenance retries the abandoned job

    job = dispatcher.job(order_id)
    assert job.get_status() == "finished", job.latest_result()
    assert job.meta["attempt"] == 2 and job.meta["stage"] == Stage.DONE
    assert job.retries_left == len(ai_config.retry_intervals) - 1
    assert_one_result(live_pacs, live_emr, order_id, study_uid)


def test_a_pacs_down_for_a_while_is_waited_for(
        live_pacs: LivePacs, live_emr: LiveEmr, storage_scp: Inbox, ai_config: AiConfig,
        redis: Redis) -> None:
    order_id, study_uid = graded_order(live_emr, live_pacs)
    config = replace(ai_config, retry_intervals=(2, 2))  # the scheduler brings it back
    emr = EmrApi.connect(config.emr_url, config.emr_token, config.emr_timeout)
    dispatcher = Dispatcher(redis, emr, config)
    live_pacs.stop()
    worker = spawn_worker(config)
    try:
        dispatcher.enqueue(order_id, "nurse")
        wait_for(lambda: dispatcher.job(order_id).meta.get("error"), "the first attempt")
        job = dispatcher.job(order_id)
        assert job.meta["stage"] == Stage.QUEUED and "FOVEA_PACS" in job.meta["error"]
        assert job.get_status() == "scheduled"
        live_pacs.start()
        wait_for(lambda: dispatcher.job(order_id).get_status() == "finished", "the retry")
    finally:
        worker.stop()
    job = dispatcher.job(order_id)
    assert job.meta["attempt"] == 2 and job.meta["error"] is None
    assert_one_result(live_pacs, live_emr, order_id, study_uid)


def test_black_photographs_give_an_ungradable_result(
        live_pacs: LivePacs, live_emr: LiveEmr, storage_scp: Inbox, ai_config: AiConfig,
        dispatcher: Dispatcher, redis: Redis) -> None:
    order_id = live_emr.add_order()
    datasets = photographs(live_emr, order_id, jpeg=False)
    for ds in datasets:
        ds.PixelData = bytes(len(ds.PixelData))
    send_to_pacs(live_pacs, datasets)
    dispatcher.enqueue(order_id, "nurse")

    assert run_worker(ai_config, redis)

    job = dispatcher.job(order_id)
    assert job.get_status() == "finished", job.latest_result()
    assert {e["grade"] for e in job.return_value()["eyes"]} == {None}
    order = live_emr.order(order_id)
    (result,) = order.results
    assert order.state.value == "ai_done"
    assert {(e.laterality, e.image_quality, e.grade) for e in result.eyes} == {
        ("R", "ungradable", None), ("L", "ungradable", None)}


def test_an_order_whose_study_has_no_image_fails_at_once(
        live_pacs: LivePacs, live_emr: LiveEmr, storage_scp: Inbox, ai_config: AiConfig,
        dispatcher: Dispatcher, redis: Redis) -> None:
    order_id = live_emr.add_order()
    dispatcher.enqueue(order_id, "nurse")

    run_worker(ai_config, redis)

    job = dispatcher.job(order_id)
    assert job.get_status() == "failed" and job.meta["attempt"] == 1
    assert "has no study" in job.meta["error"]
    order = live_emr.order(order_id)
    assert order.state.value == "failed" and "has no study" in order.state_reason
