"""Reports and review: the screening report, the ophthalmologists' queue and
sign-off, heat maps, and the training-label export."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time
from typing import Any

from flask import (Blueprint, Response, abort, flash, redirect, render_template, request,
                   stream_with_context, url_for)
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session, undefer
from werkzeug.wrappers import Response as BaseResponse

from emr.audit import record
from emr.blueprints.archive import send_after_signing
from emr.database import session
from emr.decision import GUIDELINE_SOURCES, GUIDELINE_TABLE
from emr.exceptions import TransitionRefused, ValidationError
from emr.forms import EYE_NAMES, review_form, show_errors
from emr.grading import DrGrade
from emr.labels import label_rows, labels_csv
from emr.models import AiResult, EyeImage, EyeResult, Order
from emr.orders import OrderFilter, get_order
from emr.pacs import fetch_photographs, photograph_image
from emr.reports import (Report, build_report, eye_photographs, maculopathy_words,
                         margin_words, order_photograph_uids, quality_words)
from emr.report_pdf import fetch_pictures, owe_signed_report, render_report_pdf, report_file_name
from emr.review import EyeReview, review_result
from emr.review_queue import review_queue
from emr.security import current_actor, may, require
from emr.states import OrderState
from emr.web import app_config, parse_date
from imaging_common.exceptions import PeerError
from imaging_common.logs import get_logger

bp = Blueprint("reports", __name__)
log = get_logger(__name__)
for _words in (maculopathy_words, margin_words, quality_words, eye_photographs):
    bp.add_app_template_global(_words)

#: What the report says of a photograph the PACS did not deliver.
PHOTOGRAPH_UNAVAILABLE = "The photograph could not be fetched from the PACS."
PHOTOGRAPH_MISSING = "The PACS holds no such photograph in this study."
PHOTOGRAPH_NO_PACS = "The EMR calls no PACS (it has no AE title in the network file)."

Page = str | tuple[str, int] | BaseResponse


def _render(order: Order, form: FlaskForm | None, status: int = 200) -> tuple[str, int]:
    report = build_report(order)
    if form is None and report.result is not None and may("reports.review"):
        form = review_form(tuple(e.laterality for e in report.eyes))
    return render_template("reports/report.html", report=report, form=form,
                           eye_names=EYE_NAMES, guideline_table=GUIDELINE_TABLE,
                           guideline_sources=GUIDELINE_SOURCES,
                           can_review=may("reports.review") and order.state in (
                               OrderState.AI_DONE, OrderState.REVIEWED)), status


@bp.get("/orders/<int:order_id>/report")
@require("reports.view")
def report(order_id: int) -> tuple[str, int]:
    db = session()
    order = get_order(db, order_id)
    record(db, current_actor(), "report.view", patient_id=order.patient_id, order_id=order.id)
    db.commit()
    return _render(order, None)


def _eye_review(form: FlaskForm, eye: EyeResult) -> EyeReview:
    prefix = eye.laterality
    grade_text = form[f"{prefix}_grade"].data or ""
    macula = form[f"{prefix}_maculopathy"].data or ""
    grade = None if grade_text in ("", "ungradable") else int(grade_text)
    maculopathy = {"yes": True, "no": False, "unknown": None}.get(macula, eye.maculopathy)
    return EyeReview(laterality=prefix, decision=form[f"{prefix}_decision"].data or "",
                     grade=grade, maculopathy=maculopathy,
                     comment=form[f"{prefix}_comment"].data or "")


GRADE_VALUES = {"", "ungradable", *(str(g.value) for g in DrGrade)}


def _corrections_complete(form: FlaskForm, eyes: tuple[str, ...]) -> bool:
    """Every correction names a grade; grade and maculopathy are offered values."""
    complete = True
    for eye in eyes:
        grade, macula = form[f"{eye}_grade"], form[f"{eye}_maculopathy"]
        if (grade.data or "") not in GRADE_VALUES:
            grade.errors = ["not a grade"]
        elif form[f"{eye}_decision"].data == "correct" and not grade.data:
            grade.errors = ["choose the corrected grade"]
        if macula.data not in {"", "yes", "no", "unknown", None}:
            macula.errors = ["present, absent or not assessed"]
        complete = complete and not grade.errors and not macula.errors
    return complete


@bp.post("/orders/<int:order_id>/review")
@require("reports.review")
def review(order_id: int) -> Page:
    db = session()
    order = get_order(db, order_id)
    result = order.current_result
    if result is None:
        abort(404)
    eyes = tuple(e.laterality for e in result.eyes)
    form = review_form(eyes)
    if not form.validate_on_submit():
        return _render(order, form, 422)
    if not _corrections_complete(form, eyes):
        return _render(order, form, 422)
    try:
        reviews = [_eye_review(form, e) for e in result.eyes]
        review_result(db, order, result, reviews, current_actor())
        owe_signed_report(db, app_config(), order)
        db.commit()
    except ValidationError as exc:
        db.rollback()
        show_errors(form, exc)
        return _render(get_order(db, order_id), form, 422)
    except TransitionRefused as exc:
        db.rollback()
        flash(str(exc), "error")
        return _render(get_order(db, order_id), form, 409)
    flash("Review signed.", "success")
    send_after_signing(order)
    return redirect(url_for("reports.report", order_id=order.id))


@bp.get("/orders/<int:order_id>/results/<int:result_id>/heatmap/<eye>.png")
@require("reports.view")
def heatmap(order_id: int, result_id: int, eye: str) -> Response:
    db = session()
    row = db.scalar(select(EyeResult).join(EyeResult.result).options(undefer(EyeResult.heatmap))
                    .where(AiResult.order_id == order_id, AiResult.id == result_id,
                           EyeResult.laterality == eye))
    if row is None or row.heatmap is None:
        abort(404)
    return _audited_picture(db, order_id, "report.heatmap.view",
                            {"result": result_id, "eye": eye},
                            row.heatmap, row.heatmap_media_type)


@bp.get("/orders/<int:order_id>/results/<int:result_id>/images/<int:image_id>.png")
@require("reports.view")
def picture(order_id: int, result_id: int, image_id: int) -> Response:
    """One photograph's picture: its heat map, or the photograph when it was ungradable."""
    db = session()
    row = db.scalar(select(EyeImage).join(EyeImage.eye_result).join(EyeResult.result)
                    .options(undefer(EyeImage.picture))
                    .where(AiResult.order_id == order_id, AiResult.id == result_id,
                           EyeImage.id == image_id))
    if row is None or row.picture is None:
        abort(404)
    return _audited_picture(db, order_id, "report.picture.view",
                            {"result": result_id, "image": image_id},
                            row.picture, row.picture_media_type)


@bp.get("/orders/<int:order_id>/report.pdf")
@require("reports.view")
def report_pdf(order_id: int) -> Response:
    """The report as one printable page (PDF), with the photographs from the PACS."""
    db = session()
    order = get_order(db, order_id)
    config = app_config()
    report = build_report(order)
    document = render_report_pdf(report, fetch_pictures(config, report), config.zone,
                                 datetime.now(config.zone))
    response = _audited_picture(db, order_id, "report.pdf.download",
                                {"result": report.result.id if report.result else None},
                                document, "application/pdf")
    response.headers["Content-Disposition"] = f"attachment; filename={report_file_name(order)}"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/orders/<int:order_id>/photographs/<sop_instance_uid>")
@require("reports.view")
def photograph(order_id: int, sop_instance_uid: str) -> Response:
    """One photograph of the order, full resolution, from the PACS by way of the cache:
    JPEG as the camera wrote it, anything else as PNG. Only a photograph a result of
    this order graded is served."""
    db = session()
    order = get_order(db, order_id)
    if sop_instance_uid not in order_photograph_uids(order):
        abort(404)
    try:
        data, media_type = photograph_image(app_config(), order.study_instance_uid,
                                            sop_instance_uid)
    except PeerError as exc:
        log.warning("photograph not fetched", order_id=order_id, reason=str(exc))
        return Response(PHOTOGRAPH_UNAVAILABLE, status=503, mimetype="text/plain")
    return _audited_picture(db, order_id, "report.photograph.view",
                            {"sop_instance_uid": sop_instance_uid}, data, media_type)


@bp.app_template_global()
def fetch_report_photographs(report: Report) -> dict[str, str]:
    """Bring the photographs the report shows into the cache, the previous screening's
    too; return, for each one that cannot be shown, why (one C-GET per study)."""
    previous = (report.previous_eye(eye.laterality) for eye in report.eyes)
    eyes = [*report.eyes, *(eye for eye in previous if eye is not None)]
    by_order: dict[Order, set[str]] = {}
    for eye in eyes:
        by_order.setdefault(eye.result.order, set()).update(
            p.sop_instance_uid for p in eye_photographs(eye))
    problems: dict[str, str] = {}
    if app_config().dicom is None:
        return {uid: PHOTOGRAPH_NO_PACS for uids in by_order.values() for uid in uids}
    failed = False
    for order, uids in by_order.items():
        if failed:  # one wait for a PACS that does not answer is enough for a page
            problems.update(dict.fromkeys(uids, PHOTOGRAPH_UNAVAILABLE))
            continue
        try:
            cached = set(fetch_photographs(app_config(), order.study_instance_uid, uids))
        except PeerError as exc:
            log.warning("photographs not fetched", order_id=order.id, reason=str(exc))
            problems.update(dict.fromkeys(uids, PHOTOGRAPH_UNAVAILABLE))
            failed = True
            continue
        problems.update(dict.fromkeys(uids - cached, PHOTOGRAPH_MISSING))
    return problems


def _audited_picture(db: Session, order_id: int, action: str, detail: dict[str, Any],
                     data: bytes, media_type: str) -> Response:
    """A picture of a patient's result, its viewing written to the audit log first."""
    order = get_order(db, order_id)
    record(db, current_actor(), action, patient_id=order.patient_id, order_id=order_id,
           detail=detail)
    db.commit()
    return Response(data, mimetype=media_type)


@bp.get("/reviews")
@require("reports.review")
def queue() -> str:
    first = parse_date(request.args.get("from"))
    last = parse_date(request.args.get("to"))
    station = request.args.get("station", "").strip()
    db = session()
    items = review_queue(db, OrderFilter(scheduled_from=first, scheduled_to=last,
                                         station_ae=station, zone=app_config().zone))
    record(db, current_actor(), "order.list", detail={"results": len(items),
                                                      "page": "review queue"})
    db.commit()
    return render_template("reports/queue.html", items=items, first=first, last=last,
                           station=station, stations=app_config().stations)


@bp.get("/labels.csv")
@require("labels.export")
def labels() -> Response:
    since_day = parse_date(request.args.get("since"))
    since = datetime.combine(since_day, time.min, app_config().zone) if since_day else None
    corrections_only = request.args.get("corrections") == "1"
    db = session()
    record(db, current_actor(), "labels.export",
           detail={"since": since_day, "corrections_only": corrections_only})
    db.commit()

    def generate() -> Iterator[str]:
        # Runs while the response streams, after the view's own teardown: it
        # takes a session of its own, which the streaming context closes.
        yield from labels_csv(label_rows(session(), since, corrections_only))
    response = Response(stream_with_context(generate()), mimetype="text/csv")
    response.headers["Content-Disposition"] = "attachment; filename=fovea-labels.csv"
    return response
