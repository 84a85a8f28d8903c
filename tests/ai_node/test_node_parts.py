"""The AI node's parts on their own: job ids, the inbox, the per-eye rule, configuration,
the scheduler thread, the EMR client's errors and the storage SCP's door."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE
from redis import Redis
from rq import Queue
from rq.job import JobStatus

from ai_node.config import load_config
from imaging_common.deployment import kept_secret
from ai_node.dispatch import job_id, job_matches
from ai_node.exceptions import OrderNotGradable
from ai_node.grading import GradedImage, choose_eyes
from ai_node.inbox import Inbox
from ai_node.model.quality import QualityReport
from ai_node.model.serving import REIMAGE, ROUTINE, GradeResult
from ai_node.scp import start_storage_scp
from ai_node.worker import ThreadScheduler
from imaging_common.exceptions import ConfigError, DicomInputError
from imaging_common.rest_client import JsonClient, ServiceRefused, ServiceUnavailable
from imaging_common.sop_classes import VERIFICATION
from tests.ai_node.node_peers import AI_TOKEN, LiveEmr, NetworkFile
from tests.conftest import REPO, free_port

pytest_plugins = ["tests.ai_node.node_fixtures"]


def test_job_ids_are_made_of_the_accession_number_one_to_one() -> None:
    assert job_id("FV3K2ABCDEFG") == "dr-FV3K2ABCDEFG"
    assert job_id(" FV-12_3 ") == "dr-FV-12_5F3"  # "_" is escaped, "-" is allowed
    assert job_id("A.B") == "dr-A_2EB" and job_id("A_2EB") == "dr-A_5F2EB"
    assert job_id("Ü 1") == "dr-_C3_9C_201"
    assert all(c.isalnum() or c in "_-" for c in job_id("a/b\\c d.é"))
    with pytest.raises(ValueError, match="accession"):
        job_id("  ")


def test_a_job_is_an_orders_only_with_its_id_and_its_accession() -> None:
    order = {"id": 7, "accession_number": "FV1"}
    assert job_matches({"order_id": 7, "accession_number": "FV1"}, order)
    assert not job_matches({"order_id": 7, "accession_number": "FV0"}, order)  # older database
    assert not job_matches({"order_id": 8, "accession_number": "FV1"}, order)
    assert not job_matches({"order_id": 7, "accession_number": ""}, {"id": 7})


def test_the_inbox_writes_per_study_and_refuses_what_is_not_a_uid(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path / "inbox")
    path = inbox.put("1.2.3", "1.2.3.4", b"first")
    assert path == tmp_path / "inbox" / "1.2.3" / "1.2.3.4.dcm"
    inbox.put("1.2.3", "1.2.3.4", b"second")  # a re-send replaces
    assert path.read_bytes() == b"second" and inbox.files("1.2.3") == [path]
    assert not list(inbox.incoming.iterdir())
    for study, instance in (("../etc", "1.2"), ("1.2", "../../x"), ("", "1.2")):
        with pytest.raises(DicomInputError):
            inbox.put(study, instance, b"x")
    inbox.clear("1.2.3")
    assert inbox.files("1.2.3") == []


def _graded(uid: str, laterality: str, grade: int | None, referable: float | None,
            reasons: tuple[str, ...] = ()) -> GradedImage:
    ds = Dataset()
    ds.SOPInstanceUID = uid
    quality = QualityReport(0.8, 100.0, 0.0, 0.0, 10.0, grade is not None, reasons)
    result = GradeResult(grade, () if grade is None else (0.2,) * 5, referable,
                         REIMAGE if grade is None else ROUTINE, quality, "m", "1", "1.2.3")
    return GradedImage(ds, laterality, np.zeros((4, 4, 3), np.uint8), result)


def test_each_eye_is_reported_by_its_worst_gradable_photograph() -> None:
    images = [
        _graded("1.1", "R", 1, 0.30), _graded("1.2", "R", 3, 0.70), _graded("1.3", "R", 3, 0.90),
        _graded("1.4", "R", None, None, ("focus",)),
        _graded("2.1", "L", None, None, ("field",)), _graded("2.2", "L", None, None, ("focus",)),
    ]
    right, left = choose_eyes(images, ["R", "L"])
    assert (right.laterality, right.decisive.sop_instance_uid) == ("R", "1.3")
    assert right.gradable and len(right.images) == 4 and right.quality_reasons == ()
    assert (left.laterality, left.gradable) == ("L", False)
    assert left.decisive.sop_instance_uid == "2.1" and left.quality_reasons == ("field", "focus")
    tie = choose_eyes([_graded("9.2", "R", 2, 0.5), _graded("9.1", "R", 2, 0.5)], ["R"])
    assert tie[0].decisive.sop_instance_uid == "9.1"  # the same choice on every run
    with pytest.raises(OrderNotGradable, match="left eye"):
        choose_eyes(images[:4], ["R", "L"])
    assert [e.laterality for e in choose_eyes(images, ["L"])] == ["L"]


def test_the_configuration_needs_the_emr_token_and_known_keys(node_network: NetworkFile,
                                                              tmp_path: Path) -> None:
    args = ["--config", str(node_network.path), "--data-dir", str(tmp_path)]
    with pytest.raises(ConfigError, match="FOVEA_EMR_TOKEN_AI"):
        load_config(args, environ={})
    config = load_config(args, environ={"FOVEA_EMR_TOKEN_AI": AI_TOKEN,
                                        "REDIS_URL": "redis://example:1/2"})
    assert (config.retry_intervals, config.job_timeout) == ((0, 0), 120)
    assert config.redis_url == "redis://example:1/2" and config.emr_url == "http://127.0.0.1:1"
    assert config.settings.ae_title == "FOVEA_AI" and config.pacs.ae_title == "FOVEA_PACS"
    assert AI_TOKEN not in repr(config) and config.secret_key == ""
    kept = kept_secret(config.data_dir / "secret-key")  # what python -m ai_node uses then
    assert len(kept) >= 32 and kept_secret(config.data_dir / "secret-key") == kept
    assert (config.data_dir / "secret-key").stat().st_mode & 0o777 == 0o600
    node_network.path.write_text(node_network.path.read_text() + "colour = 'blue'\n")
    with pytest.raises(ConfigError, match="colour"):
        load_config(args, environ={"FOVEA_EMR_TOKEN_AI": AI_TOKEN})


def test_the_scheduler_thread_brings_delayed_jobs_back(redis: Redis) -> None:
    queue = Queue("scheduled-test", connection=redis)
    job = queue.enqueue_in(timedelta(seconds=0), "builtins.print", "later")
    assert job.get_status() == JobStatus.SCHEDULED
    scheduler = ThreadScheduler([queue], connection=redis, interval=1)
    scheduler.acquire_locks()
    thread = scheduler.start()
    try:
        for _ in range(200):
            if job.get_status(refresh=True) == JobStatus.QUEUED:
                break
            thread.join(0.01)
        assert job.get_status() == JobStatus.QUEUED and job.id in queue.job_ids
    finally:
        scheduler.request_stop()
        thread.join(5)
    assert not thread.is_alive()


def test_the_emr_client_tells_refusals_from_outages(live_emr: LiveEmr) -> None:
    with pytest.raises(ServiceRefused) as refused:
        JsonClient(f"{live_emr.url}/api/v1", "wrong-token").get("/orders")
    assert (refused.value.status, refused.value.code) == (401, "invalid_token")
    with pytest.raises(ServiceRefused) as missing:
        JsonClient(f"{live_emr.url}/api/v1", AI_TOKEN).get("/orders/999")
    assert missing.value.status == 404
    with pytest.raises(ServiceUnavailable, match="unreachable"):
        JsonClient(f"http://127.0.0.1:{free_port()}/api/v1", AI_TOKEN, timeout=2).get("/orders")


def test_the_storage_scp_answers_only_the_pacs(node_network: NetworkFile, tmp_path: Path) -> None:
    config = load_config(["--config", str(node_network.path), "--data-dir", str(tmp_path)],
                         environ={"FOVEA_EMR_TOKEN_AI": AI_TOKEN})
    server = start_storage_scp(config.settings, Inbox(config.inbox_dir))
    try:
        for calling, accepted in (("FOVEA_PACS", True), ("STRANGER", False)):
            ae = AE(calling)
            ae.add_requested_context(VERIFICATION)
            assoc = ae.associate("127.0.0.1", node_network.ai_port, ae_title="FOVEA_AI")
            assert assoc.is_established is accepted
            if accepted:
                assert assoc.send_c_echo().Status == 0
                assoc.release()
    finally:
        server.shutdown()


def test_the_page_process_never_loads_the_model_runtime() -> None:
    probe = ("import sys, ai_node.__main__, ai_node.web\n"
             "heavy = {'tensorflow', 'keras', 'ai_edge_litert', 'ai_node.model.serving'}\n"
             "print(sorted(heavy & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            cwd=REPO, check=True)
    assert result.stdout.strip() == "[]"
