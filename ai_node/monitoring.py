"""The node's Prometheus metrics and its health, for ``/metrics`` and ``/healthz``.

Two processes, two sources:

- the page's process (``python -m ai_node``) serves ``/metrics``
  (:func:`imaging_common.web_metrics.init_metrics`: its HTTP requests and
  the DIMSE traffic of its storage SCP) and ``/healthz``
  (:mod:`ai_node.web.ops`). Its queue metrics are read from Redis and the
  model registry at scrape time (:class:`QueueCollector`): the queue's
  length, the jobs in each of RQ's registries, the workers alive, the served
  model's version;
- each worker (``python -m ai_node.worker``) observes how long every stage of
  a job took (:data:`STAGE_SECONDS`, stage by stage as :mod:`ai_node.stages`
  names them), how each attempt ended (:data:`JOB_ATTEMPTS`) and in which
  stage the failed ones stopped (:data:`STAGE_FAILURES`), in its own process.
  A worker has no web server: with ``--metrics-port PORT`` it serves its
  metrics there (:func:`imaging_common.metrics.serve_metrics`), one port per
  worker; without it (the default) they are not exported. Workers never fork
  (:mod:`ai_node.worker`), so one process's registry sees every job it ran.

No metric carries patient data, nor an order's Accession Number: labels are
stage names, job states and the model's name and version.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import Counter, Histogram, Info
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from rq import Worker

from ai_node.config import AiConfig
from ai_node.dispatch import Dispatcher
from ai_node.registry import Registry, RegistryError

__all__ = ["JOB_ATTEMPTS", "JOB_STATES", "MODEL_INFO", "QueueCollector", "STAGE_FAILURES",
           "STAGE_SECONDS", "health", "model_version"]

PREFIX = "fovea_ai"

#: Seconds each stage of a grading job took, observed by the worker that ran it.
STAGE_SECONDS = Histogram(
    f"{PREFIX}_stage_duration_seconds", "Seconds a grading job spent in each stage",
    ["stage"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
#: How each attempt at a grading job ended: ``done``, ``retried`` (it runs again
#: later) or ``failed`` (no tries left).
JOB_ATTEMPTS = Counter(f"{PREFIX}_job_attempts_total",
                       "Attempts at grading jobs by outcome (done, retried, failed)", ["outcome"])
#: The stage in which a failed or retried attempt stopped.
STAGE_FAILURES = Counter(f"{PREFIX}_stage_failures_total",
                         "Attempts at grading jobs that stopped on an error, by stage", ["stage"])
#: The model a worker serves (set when it loads one).
MODEL_INFO = Info(f"{PREFIX}_worker_model", "The model this worker serves")

#: The job states shown, each with the RQ registry (or the queue) that holds its jobs.
JOB_STATES = ("queued", "started", "scheduled", "deferred", "finished", "failed")


def model_version(config: AiConfig) -> str | None:
    """The registry's active version of the served model, or ``None`` when it has none."""
    try:
        return Registry(config.registry).active_version(config.model)
    except (RegistryError, OSError):
        return None


def _job_counts(dispatcher: Dispatcher) -> dict[str, int]:
    queue = dispatcher.queue
    return {
        "queued": queue.count,
        "started": queue.started_job_registry.count,
        "scheduled": queue.scheduled_job_registry.count,
        "deferred": queue.deferred_job_registry.count,
        "finished": queue.finished_job_registry.count,
        "failed": queue.failed_job_registry.count,
    }


def _workers(dispatcher: Dispatcher) -> int:
    return len(Worker.all(connection=dispatcher.connection, queue=dispatcher.queue))


class QueueCollector(Collector):
    """The queue, its jobs by state, the workers and the model, read at each scrape.

    Args:
        dispatcher: the queue the page fills.
        config: the node's configuration (the registry and the model's name).
    """

    def __init__(self, dispatcher: Dispatcher, config: AiConfig) -> None:
        self.dispatcher = dispatcher
        self.config = config

    def collect(self) -> Iterator[Any]:
        up = GaugeMetricFamily(f"{PREFIX}_redis_up", "Whether the job queue's Redis answered")
        try:
            counts, workers = _job_counts(self.dispatcher), _workers(self.dispatcher)
        except RedisError:
            up.add_metric([], 0)
            yield up
        else:
            up.add_metric([], 1)
            yield up
            length = GaugeMetricFamily(f"{PREFIX}_queue_length", "Jobs waiting in the queue",
                                       labels=["queue"])
            length.add_metric([self.dispatcher.queue.name], counts["queued"])
            yield length
            jobs = GaugeMetricFamily(f"{PREFIX}_jobs", "Jobs of the queue by state "
                                     "(from RQ's registries)", labels=["queue", "state"])
            for state in JOB_STATES:
                jobs.add_metric([self.dispatcher.queue.name, state], counts[state])
            yield jobs
            yield GaugeMetricFamily(f"{PREFIX}_workers", "Workers alive on the queue",
                                    value=workers)
        info = InfoMetricFamily(f"{PREFIX}_model", "The model the node serves")
        info.add_metric([], {"name": self.config.model,
                             "version": model_version(self.config) or ""})
        yield info


def health(dispatcher: Dispatcher, config: AiConfig) -> tuple[dict[str, Any], bool]:
    """The node's health and whether it can grade: Redis answers, a worker is alive,
    the model has an active version."""
    body: dict[str, Any] = {"redis": False, "workers": 0, "queue": dispatcher.queue.name,
                            "model": {"name": config.model, "version": model_version(config)}}
    try:
        dispatcher.connection.ping()
        body["redis"] = True
        body["workers"] = _workers(dispatcher)
        body["queue_length"] = dispatcher.queue.count
    except RedisError as exc:
        body["error"] = f"the job queue is unreachable: {exc}"
    healthy = body["redis"] and body["workers"] > 0 and body["model"]["version"] is not None
    body["status"] = "ok" if healthy else "unavailable"
    return body, bool(healthy)
