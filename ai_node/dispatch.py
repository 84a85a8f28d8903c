"""Putting orders on the RQ queue, and reading the queue back for the page.

One job per examination, keyed by the order's Accession Number: the id is
``dr-<accession>`` (:func:`job_id`; RQ ids allow only letters, digits, ``_``
and ``-``, so any other character is written ``_XX`` per UTF-8 byte, which
keeps the mapping one-to-one). An order id alone is not enough: a fresh EMR
database numbers its orders from 1 again, and a Redis kept from an earlier
one would show its jobs against the new orders. For the same reason a job is
only ever matched to an order whose accession number it carries
(:func:`job_matches`); older jobs keyed ``dr-order-<id>`` are matched the
same way. Asking again while the job is queued, waiting for a retry or
running returns the same job; once it has finished or failed, a new run
replaces it. The order moves to *AI queued* in the EMR before its job is
queued, so the EMR never shows a job that is not there for longer than a click.

This module does not import the model's runtime: the web process uses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis import Redis
from rq import Callback, Queue, Retry, Worker
from rq.exceptions import DuplicateJobError
from rq.job import Job, JobStatus

from imaging_common.logs import get_logger
from imaging_common.rest_client import ServiceRefused

from ai_node.config import AiConfig
from ai_node.emr_api import (ACQUIRED, AI_DONE, AI_QUEUED, AI_RUNNING, FAILED, REVIEWED,
                             EmrApi)
from ai_node.exceptions import EnqueueRefused
from ai_node.stages import Stage

__all__ = ["ACTIVE_STATUSES", "Dispatcher", "Enqueued", "JOB_FUNCTION", "job_id", "job_matches",
           "job_view"]

log = get_logger(__name__)

#: The job function and its failure callback, by their dotted names (the web
#: process never imports them: they load the model's runtime).
JOB_FUNCTION = "ai_node.jobs.grade_order"
FAILURE_CALLBACK = "ai_node.jobs.job_failed"
JOB_PREFIX = "dr-"
#: Job statuses in which asking again returns the same job.
ACTIVE_STATUSES = frozenset({JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED,
                             JobStatus.DEFERRED})
#: EMR states from which a run moves the order to *AI queued* (emr.states.TRANSITIONS).
QUEUEABLE_STATES = frozenset({ACQUIRED, FAILED, AI_DONE, REVIEWED})
#: EMR states in which the order is queued or running already (a job lost with a
#: worker leaves it so): the job is queued again without a transition.
REQUEUEABLE_STATES = frozenset({AI_QUEUED, AI_RUNNING})
#: How many finished and failed jobs the page shows, newest first.
RECENT_JOBS = 50
_RQ_ID_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")


def job_id(accession_number: str) -> str:
    """The RQ job id of an examination's grading: ``dr-`` and its Accession Number,
    any character RQ does not allow (``_`` included) written ``_XX`` per UTF-8 byte.

    Raises:
        ValueError: the accession number is empty.
    """
    accession = accession_number.strip()
    if not accession:
        raise ValueError("an order without an accession number cannot be queued")
    return JOB_PREFIX + "".join(
        c if c in _RQ_ID_CHARACTERS else "".join(f"_{b:02X}" for b in c.encode("utf-8"))
        for c in accession)


def job_matches(job: Mapping[str, Any], order: Mapping[str, Any]) -> bool:
    """Whether a job (its :func:`job_view`) is this order's: same order id and
    same Accession Number. A job of an earlier EMR database has another."""
    accession = str(job.get("accession_number") or "")
    return (bool(accession) and accession == str(order.get("accession_number") or "")
            and job.get("order_id") == order.get("id"))


def _order_id(job: Job) -> int | None:
    value = job.meta.get("order_id")
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, str) and value.isdigit() else None


@dataclass(frozen=True)
class Enqueued:
    """The order's job, and whether this request queued it."""

    order_id: int
    job: Job
    created: bool


class Dispatcher:
    """Queues orders for grading and describes the queue.

    Args:
        connection: the Redis of the queue.
        emr: the EMR's API.
        config: the node's configuration (queue name, time-outs, retries).
    """

    def __init__(self, connection: Redis, emr: EmrApi, config: AiConfig) -> None:
        self.connection = connection
        self.emr = emr
        self.config = config
        self.queue = Queue(config.queue, connection=connection)

    def job(self, order_id: int) -> Job | None:
        """The order's job, if Redis still has it (asks the EMR for its accession)."""
        return self.job_of(self.emr.order(order_id))

    def job_of(self, order: Mapping[str, Any]) -> Job | None:
        """The job of ``order`` (as the EMR gives it), if Redis has one that is its own."""
        accession = str(order.get("accession_number") or "")
        if not accession.strip():
            return None
        job = self.queue.fetch_job(job_id(accession))
        return job if job is not None and job_matches(job_view(job), order) else None

    def enqueue(self, order_id: int, requested_by: str) -> Enqueued:
        """Queue the grading of one order, unless it is queued or running already.

        Raises:
            EnqueueRefused: the order's state does not allow grading.
            ServiceUnavailable, ServiceRefused: the EMR could not move the order.
            redis.RedisError: the queue is unreachable.
        """
        order = self.emr.order(order_id)
        accession = str(order.get("accession_number") or "")
        if not accession.strip():
            raise EnqueueRefused(f"order {order_id} has no accession number")
        identifier = job_id(accession)
        existing = self.queue.fetch_job(identifier)
        if existing is not None and existing.get_status(refresh=False) in ACTIVE_STATUSES \
                and job_matches(job_view(existing), order):
            return Enqueued(order_id, existing, False)
        state = str(order.get("state", ""))
        if state in QUEUEABLE_STATES:
            self.emr.move(order_id, AI_QUEUED)
        elif state not in REQUEUEABLE_STATES:
            raise EnqueueRefused(f"order {order_id} is '{state}': only orders with acquired "
                                 "images can be graded")
        if existing is not None:
            existing.delete()
        try:
            job = self.queue.enqueue(
                JOB_FUNCTION, order_id, accession, job_id=identifier, unique=True,
                retry=self._retry(), on_failure=Callback(FAILURE_CALLBACK),
                job_timeout=self.config.job_timeout,
                result_ttl=self.config.result_ttl, failure_ttl=self.config.result_ttl,
                description=f"grade order {order_id}",
                meta={"stage": Stage.QUEUED, "order_id": order_id,
                      "accession_number": accession, "requested_by": requested_by})
        except DuplicateJobError:  # another click queued it meanwhile
            again = self.queue.fetch_job(identifier)
            if again is None:
                raise
            return Enqueued(order_id, again, False)
        log.info("order queued", order_id=order_id, job_id=job.id, requested_by=requested_by,
                 accession_number=accession)
        return Enqueued(order_id, job, True)

    def _retry(self) -> Retry | None:
        intervals = list(self.config.retry_intervals)
        return Retry(max=len(intervals), interval=intervals) if intervals else None

    def enqueue_acquired(self, requested_by: str) -> list[Enqueued]:
        """Queue every order whose images are acquired (the page's Run all).

        An order the EMR will not move (another user discontinued it meanwhile)
        is logged and left out; an unreachable EMR or Redis stops the run.
        """
        queued = []
        for order in self.emr.orders([ACQUIRED]):
            try:
                queued.append(self.enqueue(int(order["id"]), requested_by))
            except (EnqueueRefused, ServiceRefused) as exc:
                log.warning("order not queued", order_id=order["id"], reason=str(exc))
        return queued

    def overview(self) -> dict[str, Any]:
        """The queue's length and the workers alive (registered with a fresh heartbeat)."""
        workers = Worker.all(connection=self.connection, queue=self.queue)
        return {
            "queue": self.queue.name,
            "length": self.queue.count,
            "workers": [{"name": w.name, "hostname": w.hostname, "pid": w.pid,
                         "state": str(w.get_state()),
                         "job_id": w.get_current_job_id()} for w in workers],
        }

    def recent_jobs(self) -> list[dict[str, Any]]:
        """Every job of the queue the page can show, newest first."""
        ids: dict[str, None] = {}
        for registry in (self.queue.started_job_registry, self.queue.scheduled_job_registry,
                         self.queue.deferred_job_registry):
            ids.update(dict.fromkeys(registry.get_job_ids()))
        ids.update(dict.fromkeys(self.queue.job_ids))
        for registry in (self.queue.failed_job_registry, self.queue.finished_job_registry):
            ids.update(dict.fromkeys(registry.get_job_ids()[-RECENT_JOBS:]))
        jobs = [j for j in Job.fetch_many(list(ids), connection=self.connection) if j]
        views = [job_view(j) for j in jobs
                 if j.id.startswith(JOB_PREFIX) and _order_id(j) is not None]
        return sorted(views, key=lambda v: v["enqueued_at"] or "", reverse=True)


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _last_error(job: Job) -> str:
    """The error of a failed job: the job's own words, else the exception's last line."""
    if job.meta.get("error"):
        return str(job.meta["error"])
    result = job.latest_result()
    text = (result.exc_string or "") if result is not None else ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "the job failed"


def job_view(job: Job) -> dict[str, Any]:
    """What the page shows of a job (no patient data: ids, stage, error, times)."""
    status = job.get_status(refresh=False)
    stage = str(job.meta.get("stage", Stage.QUEUED))
    if status == JobStatus.FINISHED:
        stage = Stage.DONE
    elif status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
        stage = Stage.FAILED
    elif status in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED):
        stage = Stage.QUEUED
    view: dict[str, Any] = {
        "job_id": job.id,
        "order_id": _order_id(job),
        "accession_number": str(job.meta.get("accession_number") or ""),
        "status": str(status) if status else None,
        "stage": stage,
        "attempt": int(job.meta.get("attempt", 0)),
        "retries_left": job.retries_left,
        "error": _last_error(job) if stage == Stage.FAILED else job.meta.get("error"),
        "requested_by": job.meta.get("requested_by", ""),
        "enqueued_at": _time(job.enqueued_at),
        "ended_at": _time(job.ended_at),
    }
    return view
