"""The grading job: what one RQ job does for one order, stage by stage.

The web page enqueues :func:`grade_order` by its dotted name with the order
id as its only argument (:mod:`ai_node.dispatch`); a worker
(:mod:`ai_node.worker`) runs it in its own process, where the model, the AE
and the EMR client were set up once (:func:`install`). It goes through the
stages of :class:`ai_node.stages.Stage`, kept in ``job.meta`` for the page.

The EMR order moves to *AI running* when the job starts and to *AI done* with
the result. An error a retry may cure (the PACS or the EMR unreachable, see
:func:`ai_node.exceptions.is_final`) is left to ``rq.Retry``; on a final one,
or when no retry is left, the order moves to *failed* with the reason. A job
whose worker died is retried by RQ too; :func:`job_failed` fails its order
when none is left.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import structlog
from pynetdicom import AE
from redis import Redis
from rq import get_current_job
from rq.exceptions import AbandonedJobError
from rq.job import Job

from imaging_common.exceptions import FoveaError, PeerError
from imaging_common.logs import get_logger
from imaging_common.rest_client import ServiceRefused
from imaging_common.store_scu import store_instances

from ai_node.config import AiConfig
from ai_node.emr_api import AI_DONE, AI_QUEUED, AI_RUNNING, FAILED, EmrApi, Order
from ai_node.exceptions import OrderNotGradable, ResultsRefused, StaleJob, is_final
from ai_node.grading import EyeGrade, choose_eyes, grade_images
from ai_node.inbox import Inbox
from ai_node.model.serving import ServedModel, load_active
from ai_node.monitoring import JOB_ATTEMPTS, MODEL_INFO, STAGE_FAILURES, STAGE_SECONDS
from ai_node.registry import Registry
from ai_node.reporting import Outputs, build_outputs, result_body
from ai_node.retrieval import retrieve_photographs
from ai_node.stages import Stage

__all__ = ["NodeServices", "Progress", "grade_order", "install", "installed", "job_failed"]

log = get_logger(__name__)


@dataclass
class NodeServices:
    """What every job of a worker process uses, set up once per process.

    The served model is loaded on first use and loaded again only when the
    registry's ACTIVE version changes (a promotion or a roll-back).
    """

    config: AiConfig
    ae: AE
    emr: EmrApi
    inbox: Inbox
    served: ServedModel | None = field(default=None, repr=False)

    def model(self) -> ServedModel:
        """The registry's active version of the configured model, loaded."""
        active = Registry(self.config.registry).active_version(self.config.model)
        if self.served is None or self.served.entry.version != active:
            self.served = load_active(self.config.registry, self.config.model)
            MODEL_INFO.info({"name": self.config.model, "version": active})
            log.info("model loaded", model=self.config.model, version=active)
        return self.served


_services: NodeServices | None = None


def install(services: NodeServices) -> None:
    """Make ``services`` the ones this process's jobs use."""
    global _services
    _services = services


def installed() -> NodeServices:
    """The services :func:`install` set up.

    Raises:
        RuntimeError: none were (the job runs in a plain ``rq worker``).
    """
    if _services is None:
        raise RuntimeError("no AI node services in this process: run jobs with "
                           "'python -m ai_node.worker', which loads the model once")
    return _services


class Progress:
    """A job's stage and error in ``job.meta``, for the page (nothing outside a job),
    each stage's duration in :data:`~ai_node.monitoring.STAGE_SECONDS` and each
    attempt's outcome in :data:`~ai_node.monitoring.JOB_ATTEMPTS`."""

    def __init__(self, job: Job | None) -> None:
        self.job = job
        self.stage_name = Stage.QUEUED
        self.study_instance_uid = ""  # once the study is found
        self._entered = time.monotonic()

    def _observe(self) -> None:
        """Count the time spent in the stage being left (not the wait in the queue)."""
        moment = time.monotonic()
        if self.stage_name != Stage.QUEUED:
            STAGE_SECONDS.labels(stage=self.stage_name).observe(moment - self._entered)
        self._entered = moment

    def _save(self, **values: Any) -> None:
        if self.job is not None:
            self.job.meta.update(values, stage_at=_now().isoformat())
            self.job.save_meta()

    def start(self) -> int:
        """Count an attempt; return its number (1 for the first)."""
        attempt = int(self.job.meta.get("attempt", 0)) + 1 if self.job is not None else 1
        self._save(attempt=attempt)
        return attempt

    def stage(self, name: str) -> None:
        """Enter stage ``name``; at *done*, an earlier attempt's error is history."""
        self._observe()
        self.stage_name = name
        self._save(stage=name, **({"error": None} if name == Stage.DONE else {}))
        if name == Stage.DONE:
            JOB_ATTEMPTS.labels(outcome="done").inc()
        log.info("job stage", stage=str(name))

    @property
    def resumed(self) -> bool:
        """Whether an earlier attempt of this job got as far as storing the results."""
        return self.job is not None and bool(self.job.meta.get("performed_at"))

    def performed_at(self) -> datetime:
        """When the order was graded: the first attempt's time, kept for the retries,
        so that a repeated POST to the EMR carries the same body."""
        if self.job is not None and self.job.meta.get("performed_at"):
            return datetime.fromisoformat(str(self.job.meta["performed_at"]))
        moment = _now()
        self._save(performed_at=moment.isoformat())
        return moment

    def failed(self, reason: str, final: bool) -> None:
        """Record the error; the stage becomes *failed*, or *queued* for a retry."""
        self._observe()
        STAGE_FAILURES.labels(stage=self.stage_name).inc()
        JOB_ATTEMPTS.labels(outcome="failed" if final else "retried").inc()
        self.stage_name = Stage.FAILED if final else Stage.QUEUED
        self._save(stage=self.stage_name, error=reason)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def grade_order(order_id: int, accession_number: str | None = None) -> dict[str, Any]:
    """RQ job: grade one EMR order and report the result to the PACS and the EMR.

    ``accession_number`` is the examination the job was queued for (older jobs
    carry it in ``job.meta`` only): an order that now has another one is not
    this job's (a fresh EMR database reuses order ids), and is left untouched.

    Returns a summary without patient data (UIDs, grades, model version).

    Raises:
        Whatever stopped it; RQ retries it or records the failure.
    """
    services = installed()
    job = get_current_job()
    progress = Progress(job)
    attempt = progress.start()
    expected = accession_number or (str(job.meta.get("accession_number") or "") if job else "")
    # Every log line of the job carries these (the accession number identifies an
    # order, not a person; the Patient ID never appears).
    with structlog.contextvars.bound_contextvars(order_id=int(order_id),
                                                 job_id=job.id if job else None,
                                                 attempt=attempt):
        try:
            return _grade(services, int(order_id), expected, progress)
        except StaleJob as exc:
            if job is not None:
                job.retries_left = 0
            progress.failed(str(exc), final=True)
            log.warning("stale job", reason=str(exc))
            raise
        except Exception as exc:
            _failed(services, int(order_id), job, progress, exc, attempt)
            raise


def _grade(services: NodeServices, order_id: int, expected_accession: str,
           progress: Progress) -> dict[str, Any]:
    order = services.emr.order(order_id)
    accession = str(order.get("accession_number", ""))
    if expected_accession and accession != expected_accession:
        raise StaleJob(f"queued for accession {expected_accession}, but order {order_id} is "
                       f"now {accession or 'without one'} (a job of an earlier EMR database); "
                       "the order was left as it is")
    with structlog.contextvars.bound_contextvars(accession_number=accession):
        return _grade_order(services, order_id, order, progress)


def _grade_order(services: NodeServices, order_id: int, order: Order,
                 progress: Progress) -> dict[str, Any]:
    accession = str(order.get("accession_number", ""))
    _start(services.emr, order, resumed=progress.resumed)
    progress.stage(Stage.RETRIEVING)
    config = services.config
    study = retrieve_photographs(services.ae, config.pacs, config.settings.ae_title,
                                 services.inbox, str(order.get("study_instance_uid", "")),
                                 accession)
    progress.study_instance_uid = study.study_instance_uid
    progress.stage(Stage.ANALYSING)
    served = services.model()
    ordered = list(order.get("image_laterality") or ["R", "L"])
    eyes = choose_eyes(grade_images(study.photographs, served, ordered), ordered)
    progress.stage(Stage.STORING)
    performed_at = progress.performed_at()
    outputs = build_outputs(eyes, served.entry, performed_at)
    _store(services, outputs)
    progress.stage(Stage.REPORTING)
    emr_outcome = _report(services.emr, order_id,
                          result_body(eyes, outputs, served.entry, performed_at))
    progress.stage(Stage.DONE)
    services.inbox.clear(study.study_instance_uid)
    log.info("order graded", sr_sop_instance_uid=str(outputs.report.SOPInstanceUID),
             grades={e.laterality: e.result.grade for e in eyes}, emr=emr_outcome)
    return _summary(order_id, study.study_instance_uid, eyes, outputs, served, emr_outcome)


def _start(emr: EmrApi, order: Order, resumed: bool) -> None:
    """Move the order to *AI running*; refuse an order that is not queued for AI.

    A retry whose earlier attempt got as far as the EMR may find the order
    *AI done* already: it goes on, and posts the same result again (a no-op).
    """
    state = str(order.get("state", ""))
    if state == AI_QUEUED:
        emr.move(int(order["id"]), AI_RUNNING)
    elif state != AI_RUNNING and not (resumed and state == AI_DONE):
        raise OrderNotGradable(f"the order is '{state}', not queued for AI grading")


def _store(services: NodeServices, outputs: Outputs) -> None:
    """C-STORE the SR and the SCs; every one must be kept by the PACS."""
    pacs = services.config.pacs
    for outcome in store_instances(services.ae, pacs, outputs.datasets):
        if outcome.kept:
            log.info("stored", peer=pacs.ae_title, sop_instance_uid=outcome.sop_instance_uid,
                     status=outcome.status)
        elif outcome.out_of_resources:
            raise PeerError(f"{pacs.ae_title} is out of resources ({outcome.describe()})")
        else:
            raise ResultsRefused(f"{pacs.ae_title} refused {outcome.sop_instance_uid}: "
                                 f"{outcome.describe()}")


def _report(emr: EmrApi, order_id: int, body: dict[str, Any]) -> str:
    """POST the result and see the order *AI done*; return ``"stored"`` or ``"kept"``.

    The EMR keeps one result per model version. A re-run of the same model on
    the same photographs writes the same SR UID: the earlier result stands
    (the EMR answers the same body with it, a body that differs only in its
    time with a conflict) and the order is moved to *AI done* again; a new
    result moves it there by itself.
    """
    try:
        outcome = "stored" if emr.post_result(order_id, body) else "kept"
    except ServiceRefused as exc:
        if exc.status != 409 or exc.code != "conflict":
            raise
        same = [r for r in emr.results(order_id) if r.get("model") == body["model"]
                and r.get("sr_sop_instance_uid") == body["sr_sop_instance_uid"]]
        if not same:
            model = body["model"]
            raise ResultsRefused(f"the EMR keeps an earlier, different result of "
                                 f"{model['name']} {model['version']} for this order; "
                                 "grading it again needs a new model version") from None
        outcome = "kept"
    if outcome == "kept":
        emr.move(order_id, AI_DONE)
    return outcome


def _summary(order_id: int, study_uid: str, eyes: list[EyeGrade], outputs: Outputs,
             served: ServedModel, emr_outcome: str) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "study_instance_uid": study_uid,
        "model": {"name": served.entry.name, "version": served.entry.version},
        "sr_sop_instance_uid": str(outputs.report.SOPInstanceUID),
        "sc_sop_instance_uids": [str(c.SOPInstanceUID) for c in outputs.captures],
        "eyes": [{"laterality": e.laterality, "grade": e.result.grade,
                  "recommendation": e.result.recommendation,
                  "images": len(e.images)} for e in eyes],
        "emr": emr_outcome,
    }


def _failed(services: NodeServices, order_id: int, job: Job | None, progress: Progress,
            exc: Exception, attempt: int) -> None:
    """Record a failure; on a final one, stop RQ's retries and fail the EMR order."""
    final = is_final(exc) or job is None or not job.should_retry
    if is_final(exc) and job is not None:
        job.retries_left = 0  # retrying cannot cure it: let RQ record the failure now
    stage = progress.stage_name if progress.stage_name != Stage.QUEUED else "starting"
    reason = f"{stage} failed: {exc}"
    if final and attempt > 1:
        reason += f" ({attempt} attempts)"
    progress.failed(reason, final)
    log.warning("job failed", stage=stage, final=final, reason=reason)
    if not final:
        return
    if progress.study_instance_uid:
        services.inbox.clear(progress.study_instance_uid)
    try:
        services.emr.move(order_id, FAILED, f"AI grading: {reason}")
    except FoveaError as error:
        log.error("could not mark the order failed", order_id=order_id, reason=str(error))


#: What the page and the EMR say of a job whose worker disappeared.
ABANDONED = "the worker running it stopped (crashed or was killed)"


def job_failed(job: Job, connection: Redis, exc_type: type[BaseException] | None,
               exc_value: BaseException | None, traceback: Any) -> None:
    """RQ failure callback (``on_failure``): fail the order of a job its worker abandoned.

    Every other failure was handled inside :func:`grade_order`; RQ calls this
    for those too, and for an abandoned job that it is about to retry.
    """
    if exc_type is not AbandonedJobError or job.should_retry:
        return
    order_id = job.meta.get("order_id")
    job.meta.update(stage=Stage.FAILED, error=ABANDONED, stage_at=_now().isoformat())
    job.save_meta()
    log.warning("job abandoned", job_id=job.id, order_id=order_id)
    if _services is None or order_id is None:
        return
    try:
        order = _services.emr.order(int(order_id))
        queued_for = str(job.meta.get("accession_number") or "")
        if queued_for and str(order.get("accession_number", "")) != queued_for:
            return  # a job of an earlier EMR database: the order is another examination
        _services.emr.move(int(order_id), FAILED, f"AI grading: {ABANDONED}")
    except FoveaError as error:
        log.error("could not mark the order failed", order_id=order_id, reason=str(error))
