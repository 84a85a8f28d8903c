"""``python -m ai_node.worker``: an RQ worker that grades queued orders.

Start as many as the hosts allow, on any host that reaches the Redis, the
PACS, the EMR and the node's inbox folder (shared when the storage SCP runs
on another host).

A :class:`ModelWorker` loads the served model once per process and runs every
job in that process: RQ's default worker forks a work horse per job, and a
process that has loaded the model's runtime (the TFLite interpreter, and
TensorFlow wherever it is imported) must not fork: their thread pools and
locks do not survive it. For the same
reason RQ's scheduler, which moves jobs waiting for a delayed retry back to
the queue, runs on a thread (:class:`ThreadScheduler`) instead of in a
forked process.

A job whose worker dies (killed, out of memory, host lost) stays in RQ's
started registry until its heartbeat expires; RQ's maintenance, which every
worker runs at start and then as often as a job can be found dead (every
:data:`MISSED_HEARTBEATS` heartbeats, at least :data:`MIN_MAINTENANCE_SECONDS`),
then retries it or, with no retry left, fails it (:func:`ai_node.jobs.job_failed` fails the
order). RQ's :class:`~rq.SimpleWorker` gives a running job one heartbeat of
the job's whole time-out; a :class:`ModelWorker` beats every
``[ai] heartbeat`` seconds on a thread instead, so a lost job is retried
within about three of them, not after ``job_timeout``. One wait remains RQ's:
when the dead worker held the scheduler's lock, which moves retries back to
the queue, another worker takes the lock over only when it expires (61 s).

With ``--metrics-port PORT`` (or ``FOVEA_METRICS_PORT``) a worker serves its
Prometheus metrics (the duration of each stage, the attempts by outcome, the
model it serves, the process) on that port (:mod:`ai_node.monitoring`,
:func:`imaging_common.metrics.serve_metrics`).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import Any

from redis import Redis
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.scheduler import RQScheduler

from imaging_common.dimse import make_ae
from imaging_common.exceptions import ConfigError
from imaging_common.logs import configure_logging, get_logger
from imaging_common.metrics import add_metrics_option, serve_metrics

from ai_node.config import AiConfig, argument_parser, load_config
from ai_node.emr_api import EmrApi
from ai_node.inbox import Inbox
from ai_node.jobs import NodeServices, install

__all__ = ["ModelWorker", "ThreadScheduler", "main", "node_services"]

log = get_logger("ai_node.worker")

#: Seconds to wait for the scheduler thread when the worker stops.
SCHEDULER_JOIN_TIMEOUT = 5.0
#: Heartbeats a busy worker may miss before its job counts as abandoned.
MISSED_HEARTBEATS = 3
#: The fewest seconds between two cleanings of RQ's registries (RQ's default
#: is 10 minutes); the cleaning is what retries the jobs of dead workers.
MIN_MAINTENANCE_SECONDS = 5


class ThreadScheduler(RQScheduler):
    """RQ's scheduler on a daemon thread of the worker rather than a forked process."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._wake = threading.Event()

    def start(self) -> threading.Thread:
        self._status = self.Status.STARTED
        self._stop_requested = False
        self._wake.clear()
        thread = threading.Thread(target=self._loop, name="rq-scheduler", daemon=True)
        self._process = thread  # type: ignore[assignment]  # RQ only calls is_alive()
        thread.start()
        return thread

    def _loop(self) -> None:
        self.register_birth()
        try:
            while not self._stop_requested:
                if self.should_reacquire_locks:
                    self.acquire_locks()
                self.heartbeat()
                self.enqueue_scheduled_jobs()
                self._wake.wait(self.interval)
        except Exception:
            log.exception("scheduler thread failed")
        finally:
            self.stop()

    def request_stop(self, signum: Any = None, frame: Any = None) -> None:
        self._stop_requested = True
        self._wake.set()


class ModelWorker(SimpleWorker):
    """Runs grading jobs in its own process with the model loaded once; never forks.

    Args:
        queues: the queues to work on.
        services: the model, AE and EMR client the jobs use (:func:`node_services`);
            ``services.config.heartbeat`` is the seconds between heartbeats.
        **kwargs: what :class:`rq.SimpleWorker` takes (``connection``, ``name``, ...).
    """

    def __init__(self, queues: Sequence[Queue], *, services: NodeServices,
                 **kwargs: Any) -> None:
        maintenance = max(MIN_MAINTENANCE_SECONDS,
                          MISSED_HEARTBEATS * services.config.heartbeat)
        kwargs.setdefault("maintenance_interval", maintenance)
        # An idle worker waits for a job at most worker_ttl - 15 s before it
        # looks at its maintenance again: RQ's default (420) would leave a dead
        # worker's job alone for up to seven minutes.
        kwargs.setdefault("worker_ttl", maintenance + 15)
        super().__init__(list(queues), **kwargs)
        self.services = services
        self.beat_seconds = services.config.heartbeat

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        """A running job counts as alive for :data:`MISSED_HEARTBEATS` heartbeats."""
        return self.beat_seconds * MISSED_HEARTBEATS

    def execute_job(self, job: Job, queue: Queue) -> None:
        """Run the job in this process while a thread keeps its heartbeat."""
        done = threading.Event()
        beat = threading.Thread(target=self._beat, args=(job, done), name="rq-heartbeat",
                                daemon=True)
        beat.start()
        try:
            super().execute_job(job, queue)
        finally:
            done.set()
            beat.join()

    def _beat(self, job: Job, done: threading.Event) -> None:
        ttl = self.get_heartbeat_ttl(job)
        while not done.wait(self.beat_seconds):
            execution = self.execution
            if execution is None:
                continue
            try:
                with self.connection.pipeline() as pipeline:
                    self.heartbeat(ttl, pipeline=pipeline)
                    execution.heartbeat(job.started_job_registry, ttl, pipeline)
                    pipeline.execute()
            except Exception:  # a lost Redis: the job itself will meet it and fail
                log.exception("heartbeat failed", job_id=job.id)

    def work(self, *args: Any, **kwargs: Any) -> bool:
        """Load the model, then run RQ's work loop (same arguments)."""
        install(self.services)
        served = self.services.model()
        log.info("worker ready", worker=self.name, model=served.entry.name,
                 version=served.entry.version)
        return bool(super().work(*args, **kwargs))

    def _start_scheduler(self, burst: bool = False, logging_level: str | None = "INFO",
                         date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
                         log_format: str = DEFAULT_LOGGING_FORMAT) -> None:
        """RQ's own logic, with a :class:`ThreadScheduler`."""
        scheduler = ThreadScheduler(
            self.queues, connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format, log_format=log_format, serializer=self.serializer)
        self.scheduler = scheduler
        scheduler.acquire_locks()
        if not scheduler.acquired_locks:
            return  # another worker schedules these queues
        if burst:
            try:
                scheduler.register_birth()
                scheduler.enqueue_scheduled_jobs()
            finally:
                scheduler.release_locks()
                scheduler.register_death()
        else:
            scheduler.start()

    def stop_scheduler(self) -> None:
        scheduler = self.scheduler
        if isinstance(scheduler, ThreadScheduler):
            scheduler.request_stop()
            thread = scheduler._process
            if isinstance(thread, threading.Thread) and thread.is_alive():
                thread.join(SCHEDULER_JOIN_TIMEOUT)


def node_services(config: AiConfig) -> NodeServices:
    """The AE, the EMR client and the inbox of one worker process (the model loads later)."""
    return NodeServices(
        config=config,
        ae=make_ae(config.settings),
        emr=EmrApi.connect(config.emr_url, config.emr_token, config.emr_timeout),
        inbox=Inbox(config.inbox_dir, fsync=config.settings.fsync),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of a worker; returns the process exit status."""
    parser = argument_parser("Fovea AI node worker: grades the queued orders")
    parser.add_argument("--burst", action="store_true",
                        help="work until the queue is empty, then stop")
    add_metrics_option(parser)
    try:
        config = load_config(argv, parser=parser)
    except ConfigError as exc:
        print(f"ai_node.worker: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.settings.log_format)
    serve_metrics(config.settings)
    connection = Redis.from_url(config.redis_url)
    worker = ModelWorker([Queue(config.queue, connection=connection)],
                         services=node_services(config), connection=connection)
    worker.work(burst=bool(config.settings.extra.get("burst")), with_scheduler=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
