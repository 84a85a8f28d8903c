"""The node's ``/metrics`` and ``/healthz``, and a worker's own metrics port."""

from __future__ import annotations

import urllib.request

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis

from ai_node.config import AiConfig
from ai_node.dispatch import Dispatcher
from ai_node.inbox import Inbox
from ai_node.stages import Stage
from ai_node.web import create_app
from tests.ai_node.node_peers import (SHIPPED_MODEL, LiveEmr, LivePacs, photographs, run_worker,
                                      send_to_pacs, spawn_worker)
from tests.conftest import free_port

pytest_plugins = ["tests.ai_node.node_fixtures"]

GRADING_STAGES = (Stage.RETRIEVING, Stage.ANALYSING, Stage.STORING, Stage.REPORTING)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus exposition, by name and sorted labels."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def stage_count(stage: str) -> float:
    return REGISTRY.get_sample_value("fovea_ai_stage_duration_seconds_count",
                                     {"stage": stage}) or 0.0


#: A photograph the PACS's C-MOVE stored into the node's storage SCP.
PHOTOGRAPH_STORED = ("fovea_dimse_operations_total", (
    ("command", "C-STORE"), ("level", ""), ("role", "performer"), ("service", "ai"),
    ("sop_class", "OphthalmicPhotography8BitImageStorage"), ("status", "success")))
DONE = ("fovea_ai_job_attempts_total", (("outcome", "done"),))
MODEL_LABELS = (("name", SHIPPED_MODEL[0]), ("version", SHIPPED_MODEL[1]))


def test_the_page_exports_the_queue_and_the_worker_its_stage_durations(
        live_pacs: LivePacs, live_emr: LiveEmr, storage_scp: Inbox, ai_config: AiConfig,
        dispatcher: Dispatcher, redis: Redis) -> None:
    client = create_app(ai_config, dispatcher, testing=True).test_client()
    health = client.get("/healthz")  # no log-in needed; no worker yet
    assert health.status_code == 503
    assert health.json["redis"] and health.json["workers"] == 0
    assert health.json["model"] == {"name": SHIPPED_MODEL[0], "version": SHIPPED_MODEL[1]}

    order_id = live_emr.add_order()
    send_to_pacs(live_pacs, photographs(live_emr, order_id))
    dispatcher.enqueue(order_id, "nurse")
    queued = samples(client.get("/metrics").text)
    assert queued[("fovea_ai_queue_length", (("queue", "fovea-ai"),))] == 1
    assert queued[("fovea_ai_redis_up", ())] == 1
    before = {stage: stage_count(stage) for stage in GRADING_STAGES}
    counted = samples(client.get("/metrics").text)

    assert run_worker(ai_config, redis)

    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and metrics.mimetype == "text/plain"
    after = samples(metrics.text)
    jobs = {dict(labels)["state"]: value for (name, labels), value in after.items()
            if name == "fovea_ai_jobs"}
    assert jobs == {"queued": 0, "started": 0, "scheduled": 0, "deferred": 0,
                    "finished": 1, "failed": 0}
    assert after[("fovea_ai_model_info", MODEL_LABELS)] == 1
    assert "MRN" not in metrics.text and "Doe" not in metrics.text
    for stage in GRADING_STAGES:  # the in-process worker observed into the default registry
        assert stage_count(stage) == before[stage] + 1, stage
    # The process-wide registry: the storage SCP's DIMSE traffic, the job's outcome.
    assert after[PHOTOGRAPH_STORED] - counted.get(PHOTOGRAPH_STORED, 0) >= 2
    assert after[DONE] - counted.get(DONE, 0) == 1
    # The page's own requests, by endpoint.
    assert after[("fovea_http_requests_total", (("endpoint", "ops.healthz"), ("method", "GET"),
                                                ("status", "503")))] == 1


def test_a_worker_serves_its_metrics_and_makes_the_node_healthy(
        ai_config: AiConfig, dispatcher: Dispatcher) -> None:
    client = create_app(ai_config, dispatcher, testing=True).test_client()
    port = free_port()
    worker = spawn_worker(ai_config, "--metrics-port", str(port))
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as response:
            exported = samples(response.read().decode())
        health = client.get("/healthz")
    finally:
        worker.stop()
    assert exported[("fovea_ai_worker_model_info",
                     MODEL_LABELS)] == 1
    assert health.status_code == 200, health.json
    assert health.json["status"] == "ok" and health.json["workers"] == 1
