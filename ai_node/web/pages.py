"""The nurses' page: prescriptions waiting for AI grading, Run, Run all, live status.

``GET /`` lists the EMR's orders whose images are acquired, that are queued
or running, or that failed, each with its job's stage; ``POST
/orders/<id>/run`` and ``POST /run-all`` queue jobs; ``GET /status.json`` is
what the page's script polls to update the rows without a reload. An order
graded by one of the recent jobs stays listed with its result and a link to
its report in the EMR. The patient's name and MRN are shown when the node's
EMR token may see them (``patients:read``); they are never logged.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, url_for
from werkzeug.wrappers import Response as Redirect
from flask_login import current_user, login_required
from redis.exceptions import RedisError

from imaging_common.exceptions import FoveaError
from imaging_common.logs import get_logger
from imaging_common.rest_client import ServiceRefused

from ai_node.dispatch import Enqueued, job_matches
from ai_node.emr_api import (ACQUIRED, AI_DONE, AI_QUEUED, AI_RUNNING, FAILED, PAGE_STATES,
                             REVIEWED, Order)
from ai_node.exceptions import EnqueueRefused
from ai_node.stages import Stage
from ai_node.web.context import web_context
from ai_node.web.forms import CsrfForm
from ai_node.web.summaries import patient_name, report_url

__all__ = ["bp", "order_rows", "status"]

bp = Blueprint("pages", __name__)
log = get_logger(__name__)

_FINISHED = frozenset({Stage.DONE, Stage.FAILED})
#: Orders the node has graded: listed while one of the recent jobs is theirs.
_GRADED = (AI_DONE, REVIEWED)


def order_rows(orders: list[Order], jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per order: its EMR state, its job, and the button it gets (if any).

    A job belongs to an order only when it carries the order's id and Accession
    Number: a Redis kept from an earlier EMR database holds jobs of orders
    that had the same ids, and those are never shown as this order's.
    """
    latest: dict[str, dict[str, Any]] = {}
    for view in jobs:  # newest first: keep each examination's newest job
        latest.setdefault(view["accession_number"], view)
    rows = []
    for order in orders:
        job = latest.get(str(order.get("accession_number") or ""))
        if job is not None and not job_matches(job, order):
            job = None  # a job of an earlier EMR database, or of another order
        state = str(order.get("state", ""))
        action = None
        if job is None or job["stage"] in _FINISHED:
            if state == ACQUIRED:
                action = "Run"
            elif state == FAILED:
                action = "Retry"
            elif state in (AI_QUEUED, AI_RUNNING):
                action = "Run again"  # the EMR says queued but no job is: a lost job
        if state in _GRADED and job is None:
            continue  # graded long ago: the EMR lists it
        patient = order.get("patient") or {}
        rows.append({
            "order_id": order["id"],
            "accession_number": order.get("accession_number", ""),
            "patient_name": patient_name(str(patient.get("patient_name") or "")),
            "mrn": str(patient.get("patient_id") or ""),
            "eyes": "/".join(order.get("image_laterality") or []),
            "priority": order.get("priority", ""),
            "scheduled_at": str(order.get("scheduled_at") or "")[:16].replace("T", " "),
            "state": state,
            "state_reason": order.get("state_reason", ""),
            "job": job,
            "action": action,
            "result": None,
            "report_url": "",
        })
    return rows


def _with_results(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add each graded order's result summary and report link (an EMR that does
    not answer leaves the result out; the state says it is graded)."""
    context = web_context()
    for row in rows:
        if row["state"] not in _GRADED:
            continue
        row["report_url"] = report_url(context.config.emr_page_url or context.config.emr_url,
                                       row["order_id"])
        try:
            row["result"] = context.results.get(row["order_id"], str(row["accession_number"]),
                                                context.dispatcher.emr.results)
        except FoveaError as exc:
            log.warning("result not read", order_id=row["order_id"], error=str(exc))
    return rows


def status() -> dict[str, Any]:
    """Everything the page shows: the queue, the workers, the orders and the jobs."""
    dispatcher = web_context().dispatcher
    body: dict[str, Any] = {"emr_error": None, "queue_error": None}
    try:
        body["queue"] = dispatcher.overview()
        jobs = dispatcher.recent_jobs()
    except RedisError as exc:
        body["queue"] = {"queue": dispatcher.queue.name, "length": None, "workers": []}
        body["queue_error"] = f"the job queue is unreachable: {exc}"
        jobs = []
    try:
        orders = dispatcher.emr.orders((*PAGE_STATES, *_GRADED))
    except FoveaError as exc:
        body["emr_error"] = f"the EMR did not answer: {exc}"
        orders = []
    body["orders"] = _with_results(order_rows(orders, jobs))
    body["jobs"] = jobs
    return body


@bp.get("/")
@login_required
def index() -> str:
    return render_template("index.html", status=status(), form=CsrfForm())


@bp.get("/status.json")
@login_required
def status_json() -> Response:
    return jsonify(status())


#: The flash category of a notice about jobs: ``job:`` and the job ids (``*``:
#: every job of the queue). The page's script rewrites such a notice once its
#: jobs have ended, so that "queued" never outlives the job.
JOB_NOTICE = "job:"


def _report(enqueued: Enqueued) -> None:
    if enqueued.created:
        flash(f"Order {enqueued.order_id} is queued for grading.", JOB_NOTICE + enqueued.job.id)
    else:
        flash(f"Order {enqueued.order_id} is queued or running already.",
              JOB_NOTICE + enqueued.job.id)


@bp.post("/orders/<int:order_id>/run")
@login_required
def run(order_id: int) -> Redirect:
    """Queue one order (Run, Retry, Run again); CSRFProtect checked the form's token."""
    try:
        _report(web_context().dispatcher.enqueue(order_id, current_user.username))
    except EnqueueRefused as exc:
        flash(str(exc), "error")
    except ServiceRefused as exc:
        flash(f"The EMR refused to queue order {order_id}: {exc.message}", "error")
    except (FoveaError, RedisError) as exc:
        flash(f"Order {order_id} could not be queued: {exc}", "error")
    return redirect(url_for("pages.index"))


@bp.post("/run-all")
@login_required
def run_all() -> Redirect:
    """Queue every order whose images are acquired."""
    try:
        queued = web_context().dispatcher.enqueue_acquired(current_user.username)
    except (FoveaError, RedisError) as exc:
        flash(f"Not every order could be queued: {exc}", "error")
        return redirect(url_for("pages.index"))
    created = sum(1 for e in queued if e.created)
    if queued:
        flash(f"{created} order(s) queued for grading.", JOB_NOTICE + "*")
    else:
        flash("No order is waiting for grading.", "info")
    return redirect(url_for("pages.index"))
