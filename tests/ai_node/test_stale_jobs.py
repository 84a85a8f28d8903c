"""A Redis kept from an earlier EMR database: its jobs are never the new orders'.

A fresh EMR numbers its orders from 1 again. Jobs of the earlier database,
one finished and one still queued under the old ``dr-order-<id>`` ids, sit
in a real Redis; the page must not show them as the new orders' (no "done"
before anyone pressed Run), Run must queue a job of its own, and a worker
that picks up the stale queued job must leave the new order untouched.
"""

from __future__ import annotations

import signal
from typing import Any

import pytest
from redis import Redis
from rq import Queue, SimpleWorker

from ai_node.config import AiConfig
from ai_node.dispatch import JOB_FUNCTION, Dispatcher, job_id
from ai_node.stages import Stage
from tests.ai_node.node_peers import LiveEmr, Nurse, run_worker

pytest_plugins = ["tests.ai_node.node_fixtures"]

EARLIER = {1: "FVOLD00000001", 2: "FVOLD00000002"}


def earlier_grading(order_id: int) -> dict[str, Any]:
    """What a job of the earlier database returned (run by a plain RQ worker)."""
    return {"order_id": order_id}


def _burst(queue: Queue, redis: Redis) -> None:
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        SimpleWorker([queue], connection=redis).work(burst=True)
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


@pytest.fixture
def earlier_jobs(ai_config: AiConfig, redis: Redis) -> Queue:
    """Order 1's job finished and order 2's still queued, both of the earlier database."""
    queue = Queue(ai_config.queue, connection=redis)
    queue.enqueue(f"{__name__}.earlier_grading", 1, job_id="dr-order-1",
                  meta={"stage": Stage.QUEUED, "order_id": 1, "accession_number": EARLIER[1],
                        "requested_by": "nina"})
    _burst(queue, redis)
    queue.enqueue(JOB_FUNCTION, 2, job_id="dr-order-2",
                  meta={"stage": Stage.QUEUED, "order_id": 2, "accession_number": EARLIER[2],
                        "requested_by": "nina"})
    assert queue.fetch_job("dr-order-1").get_status() == "finished"
    return queue


def test_new_orders_do_not_show_the_earlier_databases_jobs(
        earlier_jobs: Queue, live_emr: LiveEmr, nurse: Nurse, dispatcher: Dispatcher) -> None:
    orders = [live_emr.add_order(f"MRN-S-{i}") for i in (1, 2)]
    assert orders == [1, 2]  # the same ids as the earlier database's orders
    nurse.login()
    status = nurse.client.get("/status.json").json
    rows = {r["order_id"]: r for r in status["orders"]}
    for order_id in orders:
        assert rows[order_id]["job"] is None and rows[order_id]["action"] == "Run"
        assert dispatcher.job(order_id) is None
    # the jobs table still lists them as history, under their own accession numbers
    assert {j["accession_number"] for j in status["jobs"]} == set(EARLIER.values())
    page = nurse.refresh("/")
    assert 'stage-done">done' not in page.split('id="jobs"')[0]  # no "done" among the orders

    ran = nurse.post("/orders/2/run")  # the stale queued job is not "queued already"
    assert "Order 2 is queued for grading." in ran.text
    accession = live_emr.order(2).accession_number
    assert dispatcher.job(2).id == job_id(accession) != "dr-order-2"
    row = {r["order_id"]: r for r in nurse.client.get("/status.json").json["orders"]}[2]
    assert row["job"]["job_id"] == job_id(accession) and row["job"]["stage"] == "queued"


def test_a_worker_leaves_a_new_order_alone_when_it_runs_a_stale_job(
        earlier_jobs: Queue, live_emr: LiveEmr, ai_config: AiConfig, redis: Redis,
        dispatcher: Dispatcher) -> None:
    live_emr.add_order("MRN-S-1")
    order_id = live_emr.add_order("MRN-S-2")
    assert order_id == 2

    run_worker(ai_config, redis)  # runs only the earlier database's queued job

    stale = earlier_jobs.fetch_job("dr-order-2")
    assert stale.get_status() == "failed" and stale.meta["stage"] == Stage.FAILED
    assert f"queued for accession {EARLIER[2]}" in stale.meta["error"]
    order = live_emr.order(order_id)
    assert order.state.value == "acquired"  # neither running nor failed
    assert [t.to_state.value for t in order.transitions][-1] == "acquired"
    assert dispatcher.job(order_id) is None
