"""The AI node end to end: an acquired order is graded from the PACS into the PACS and the EMR.

Real peers throughout: redis-server, the PACS and the EMR (over HTTP) in
this process, the node's storage SCP, and the node's worker class in burst
mode with the shipped model.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import (ComprehensiveSRStorage, Comprehensive3DSRStorage,
                         OphthalmicPhotography8BitImageStorage, SecondaryCaptureImageStorage)
from redis import Redis

from ai_node.config import AiConfig
from ai_node.dispatch import Dispatcher, job_id
from ai_node.inbox import Inbox
from ai_node.stages import Stage
from ai_node.web import create_app
from tests.ai_node.node_peers import (SHIPPED_MODEL, LiveEmr, LivePacs, Nurse, photographs,
                                      run_worker, send_to_pacs)
from tests.conftest import require_tool

pytest_plugins = ["tests.ai_node.node_fixtures"]

SR_CLASSES = {ComprehensiveSRStorage, Comprehensive3DSRStorage}


def by_class(pacs: LivePacs, study_uid: str) -> dict[str, list[str]]:
    """The study's SOP Instance UIDs on the PACS, by SOP class."""
    found: dict[str, list[str]] = {}
    for match in pacs.instances(study_uid):
        found.setdefault(str(match.SOPClassUID), []).append(str(match.SOPInstanceUID))
    return found


def dciodvfy_errors(path: Path) -> list[str]:
    report = subprocess.run([require_tool("dciodvfy"), "-new", str(path)],
                            capture_output=True, text=True)
    return [line for line in (report.stdout + report.stderr).splitlines()
            if line.startswith("Error")]


def test_an_order_is_graded_into_the_pacs_and_the_emr_and_a_rerun_replaces(
        live_pacs: LivePacs, live_emr: LiveEmr, storage_scp: Inbox, ai_config: AiConfig,
        dispatcher: Dispatcher, redis: Redis) -> None:
    order_id = live_emr.add_order()
    study_uid = live_emr.order(order_id).study_instance_uid
    send_to_pacs(live_pacs, photographs(live_emr, order_id))

    queued = dispatcher.enqueue(order_id, "nurse")
    accession = live_emr.order(order_id).accession_number
    assert queued.created and queued.job.id == f"dr-{accession}"
    assert live_emr.order(order_id).state.value == "ai_queued"
    assert not dispatcher.enqueue(order_id, "nurse").created  # no duplicate while queued
    assert dispatcher.queue.count == 1

    assert run_worker(ai_config, redis)

    job = dispatcher.job(order_id)
    assert job is not None and job.get_status() == "finished", job.latest_result()
    assert job.meta["stage"] == Stage.DONE
    summary = job.return_value()
    stored = by_class(live_pacs, study_uid)
    assert len(stored[OphthalmicPhotography8BitImageStorage]) == 2
    assert len(stored[SecondaryCaptureImageStorage]) == 2
    sr_uids = [uid for cls in SR_CLASSES for uid in stored.get(cls, [])]
    assert sr_uids == [summary["sr_sop_instance_uid"]]
    assert sorted(stored[SecondaryCaptureImageStorage]) == sorted(summary["sc_sop_instance_uids"])

    order = live_emr.order(order_id)
    assert order.state.value == "ai_done"
    states = [t.to_state.value for t in order.transitions]
    assert states[-3:] == ["ai_queued", "ai_running", "ai_done"]
    (result,) = order.results
    assert (result.model_name, result.model_version) == SHIPPED_MODEL
    assert result.sr_sop_instance_uid == summary["sr_sop_instance_uid"]
    assert result.sc_sop_instance_uid in summary["sc_sop_instance_uids"]
    eyes = {eye.laterality: eye for eye in result.eyes}
    assert set(eyes) == {"R", "L"}
    for eye in eyes.values():
        assert eye.grade is not None and len(eye.probabilities) == 5
        assert eye.heatmap and eye.heatmap.startswith(b"\x89PNG")
        assert eye.source_sop_instance_uids
    assert not storage_scp.files(study_uid)  # the working copy is cleared

    written = [p for p in live_pacs.files(study_uid)
               if str(pydicom.dcmread(p, stop_before_pixels=True).SOPClassUID)
               != OphthalmicPhotography8BitImageStorage]
    assert len(written) == 3
    for path in written:
        assert dciodvfy_errors(path) == [], path.name

    rerun = dispatcher.enqueue(order_id, "nurse")
    assert rerun.created and live_emr.order(order_id).state.value == "ai_queued"
    assert run_worker(ai_config, redis)
    assert by_class(live_pacs, study_uid) == stored  # same UIDs: replaced, not added
    again = live_emr.order(order_id)
    assert again.state.value == "ai_done" and len(again.results) == 1
    assert dispatcher.job(order_id).return_value()["emr"] == "kept"


def test_the_pacs_down_fails_the_job_after_its_retries_and_the_order(
        live_pacs: LivePacs, live_emr: LiveEmr, storage_scp: Inbox, ai_config: AiConfig,
        dispatcher: Dispatcher, redis: Redis) -> None:
    order_id = live_emr.add_order()
    live_pacs.stop()
    dispatcher.enqueue(order_id, "nurse")

    run_worker(ai_config, redis)

    job = dispatcher.job(order_id)
    assert job is not None and job.get_status() == "failed"
    assert job.meta["attempt"] == 1 + len(ai_config.retry_intervals)
    assert job.meta["stage"] == Stage.FAILED
    error = job.meta["error"]
    assert "retrieving failed" in error and "FOVEA_PACS" in error and "3 attempts" in error
    order = live_emr.order(order_id)
    assert order.state.value == "failed"
    assert "FOVEA_PACS" in order.state_reason and order.state_reason.startswith("AI grading")

    nurse = Nurse(create_app(ai_config, dispatcher, testing=True).test_client(), live_emr)
    nurse.login()
    (row,) = nurse.client.get("/status.json").json["orders"]
    assert (row["order_id"], row["action"], row["job"]["stage"]) == (order_id, "Retry", "failed")
    assert "FOVEA_PACS" in row["job"]["error"]
    page = nurse.refresh("/")
    assert ">Retry</button>" in page and "3 attempts" in page


def test_an_order_without_a_photograph_of_an_eye_fails_at_once(
        live_pacs: LivePacs, live_emr: LiveEmr, storage_scp: Inbox, ai_config: AiConfig,
        dispatcher: Dispatcher, redis: Redis) -> None:
    order_id = live_emr.add_order()
    send_to_pacs(live_pacs, photographs(live_emr, order_id, eyes=("R",), jpeg=False))
    dispatcher.enqueue(order_id, "nurse")

    run_worker(ai_config, redis)

    job = dispatcher.job(order_id)
    assert job is not None and job.get_status() == "failed"
    assert job.meta["attempt"] == 1  # a retry cannot bring the left eye
    assert "no photograph of the left eye" in job.meta["error"]
    order = live_emr.order(order_id)
    assert order.state.value == "failed" and "left eye" in order.state_reason
    assert by_class(live_pacs, order.study_instance_uid).keys() == {
        OphthalmicPhotography8BitImageStorage}

    retried = dispatcher.enqueue(order_id, "nurse")  # the page's Retry
    assert retried.created and live_emr.order(order_id).state.value == "ai_queued"


@pytest.mark.parametrize("state", ["scheduled", "in_progress"])
def test_an_order_without_acquired_images_is_not_queued(
        live_emr: LiveEmr, dispatcher: Dispatcher, state: str) -> None:
    from ai_node.exceptions import EnqueueRefused

    order_id = live_emr.add_order(state=state)
    with pytest.raises(EnqueueRefused, match=f"is '{state}'"):
        dispatcher.enqueue(order_id, "nurse")
    assert dispatcher.job(order_id) is None
    assert live_emr.order(order_id).state.value == state
    assert job_id(live_emr.order(order_id).accession_number) not in dispatcher.queue.job_ids


def test_a_job_abandoned_by_a_dead_worker_fails_its_order_when_no_retry_is_left(
        live_emr: LiveEmr, ai_config: AiConfig, dispatcher: Dispatcher, redis: Redis) -> None:
    from rq.exceptions import AbandonedJobError

    from ai_node.jobs import install, job_failed
    from ai_node.worker import node_services

    order_id = live_emr.add_order()
    job = dispatcher.enqueue(order_id, "nurse").job
    install(node_services(ai_config))
    job_failed(job, redis, AbandonedJobError, AbandonedJobError(), None)  # a retry is left
    assert live_emr.order(order_id).state.value == "ai_queued"
    job.retries_left = 0
    job_failed(job, redis, AbandonedJobError, AbandonedJobError(), None)
    order = live_emr.order(order_id)
    assert order.state.value == "failed" and "worker running it stopped" in order.state_reason
    assert dispatcher.job(order_id).meta["stage"] == Stage.FAILED
