"""The whole network, each service its own process: one screening end to end with
one correlation id through every service's log, and the same screening while
every service is killed with -9 (and Redis restarted) somewhere in the middle."""

from __future__ import annotations

import argparse
import re
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from pydicom.uid import SecondaryCaptureImageStorage
from pynetdicom import AE
from pynetdicom.sop_class import OphthalmicPhotography8BitImageStorage
from redis import Redis
from rq import Queue

from imaging_common.levels import Level
from imaging_common.query_scu import find
from tests.network.harness import SERVICES, LocalNetwork, load_script, wait_until

#: Short waits, so that faults heal within the test's time: the AI node's
#: heartbeat and retries, the station's delivery backoff, the worklist's cache.
FAST = {"heartbeat": "1", "retry_intervals": "[1, 2, 4, 8]", "emr_cache_seconds": "0"}
FAST_STATION = "\n[station]\nretry_first_seconds = 1\nretry_max_seconds = 2\n"
SR_CLASS_PREFIX = "1.2.840.10008.5.1.4.1.1.88."


@pytest.fixture
def network(tmp_path: Path) -> Iterator[LocalNetwork]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (make test installs it)")
    net = LocalNetwork(tmp_path, FAST, FAST_STATION)
    try:
        net.start_all()
        yield net
    finally:
        net.stop_all()


@pytest.fixture(scope="module")
def demo() -> ModuleType:
    return load_script("demo")


def new_demo(demo: ModuleType, network: LocalNetwork) -> object:
    return demo.prepare(argparse.Namespace(data_dir=network.folder, network=network.config))


def study_contents(network: LocalNetwork, demo_state: object) -> Counter[str]:
    """How many instances of each SOP class the PACS lists in the order's study."""
    ae = AE(ae_title="WEASIS_AE")
    node = demo_state.network.node("pacs")  # type: ignore[attr-defined]
    study = demo_state.study_instance_uid  # type: ignore[attr-defined]
    counts: Counter[str] = Counter()
    series = find(ae, node, _query(Level.SERIES, StudyInstanceUID=study, SeriesInstanceUID=""))
    for one in series:
        for instance in find(ae, node, _query(
                Level.IMAGE, StudyInstanceUID=study, SeriesInstanceUID=one.SeriesInstanceUID,
                SOPInstanceUID="", SOPClassUID="")):
            counts[str(instance.SOPClassUID)] += 1
    return counts


def _query(level: Level, **keys: str) -> object:
    from pydicom.dataset import Dataset

    identifier = Dataset()
    identifier.QueryRetrieveLevel = level.value
    for keyword, value in keys.items():
        setattr(identifier, keyword, value)
    return identifier


def assert_one_result(network: LocalNetwork, demo: ModuleType, state: object) -> None:
    """Both photographs kept, one SR and two SCs, one result in the EMR."""
    counts = study_contents(network, state)
    assert counts[OphthalmicPhotography8BitImageStorage] == 2, counts
    assert counts[SecondaryCaptureImageStorage] == 2, counts
    assert sum(n for uid, n in counts.items() if uid.startswith(SR_CLASS_PREFIX)) == 1, counts
    order = demo.api_order(state.url("emr"), state.ai_token,  # type: ignore[attr-defined]
                           state.order_id)  # type: ignore[attr-defined]
    assert order["state"] == "ai_done" and len(order["results"]) == 1, order["state"]


def test_one_screening_carries_its_accession_number_through_every_service(
        network: LocalNetwork, demo: ModuleType) -> None:
    state = new_demo(demo, network)
    for title, step in demo.STEPS:
        step(state)
    accession = state.accession_number  # type: ignore[attr-defined]
    for name in SERVICES:
        lines = [e for e in network.log_events(name)
                 if e.get("accession_number") == accession
                 or accession in e.get("accession_numbers", ())]
        assert lines, f"no log line of {name} names accession {accession}"
    # The AI node's job id follows its calls into the EMR.
    job_lines = [e for e in network.log_events("emr")
                 if e.get("job_id") and e.get("accession_number") == accession]
    assert job_lines and {e["event"] for e in job_lines} >= {"request"}
    # No log line of any service carries the patient's MRN or name.
    for name in ("redis", *SERVICES):
        text = network.log_path(name).read_text(errors="replace")
        assert "DEMO-" not in text and "Dana" not in text, name


def _exam_path(page: object) -> str:
    path = page.path  # type: ignore[attr-defined]
    assert re.fullmatch(r"/examinations/\d+", path), page.errors()  # type: ignore[attr-defined]
    return str(path)


def test_every_service_killed_once_and_redis_restarted_loses_nothing(
        network: LocalNetwork, demo: ModuleType) -> None:
    state = new_demo(demo, network)
    password = state.password  # type: ignore[attr-defined]

    # EMR killed right after the prescription: the worklist waits for it.
    demo.prescribe(state)
    network.kill("emr")
    network.start("emr")

    # Worklist killed before the station asks it for today's work.
    network.kill("worklist")
    network.start("worklist")
    station = demo.WebSession(state.url("station"))  # type: ignore[attr-defined]
    station.login("technician", password)
    page, key = demo.wait_for("the order on the worklist", lambda: demo._worklist_row(
        station, state.accession_number))  # type: ignore[attr-defined]
    page = station.post("/worklist/start", {"item": key}, page)
    exam = _exam_path(page)
    seed = demo.one(r'<input[^>]*name="seed"[^>]*value="(\d+)"', page, "the seed")

    # PACS killed before the photographs are sent, and the station killed while
    # they wait in its outbox: both come back, and the photographs are delivered.
    network.kill("pacs")
    page = station.post(f"{exam}/photographs", {
        "right_simulate": "y", "right_grade": "2", "left_simulate": "y", "left_grade": "2",
        "seed": seed}, page)
    assert page.path == exam, page.errors()
    network.kill("station")
    network.start("pacs")
    network.start("station")
    station = demo.WebSession(state.url("station"))  # type: ignore[attr-defined]
    station.login("technician", password)
    demo.wait_for("the photographs stored and committed", lambda: demo._delivered(station, exam))
    state.wait_for_state("acquired")  # type: ignore[attr-defined]

    # AI node's page killed; the nurse runs the order after its restart. The
    # PACS is frozen meanwhile, so the job hangs in retrieving: its worker is
    # killed there, Redis restarted, and a new worker takes the job over.
    network.kill("ai")
    network.start("ai")
    network.pause("pacs")
    try:
        ai = demo.WebSession(state.url("ai"))  # type: ignore[attr-defined]
        page = ai.login("nurse", password)
        ai.post(f"/orders/{state.order_id}/run", {}, page)  # type: ignore[attr-defined]
        wait_until(lambda: any(e.get("event") == "job stage" and e.get("stage") == "retrieving"
                               and e.get("accession_number") == state.accession_number
                               for e in network.log_events("worker")),
                   "the job to start retrieving")
        network.kill("worker")
    finally:
        network.resume("pacs")
    network.stop("redis")
    network.start("redis")
    started = Queue("fovea-ai", connection=Redis.from_url(network.env["REDIS_URL"]))
    wait_until(started.started_job_registry.get_expired_job_ids,
               "the killed worker's job to outlive its heartbeats", timeout=30)
    network.start("worker")  # its first maintenance retries the job
    demo.wait_for("the job to finish", lambda: demo._job_outcome(ai, state.order_id))

    state.wait_for_state("ai_done")  # type: ignore[attr-defined]
    assert_one_result(network, demo, state)
    demo.review(state)  # and the order reaches its final state
