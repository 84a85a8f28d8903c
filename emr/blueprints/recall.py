"""Recall: the nurse's lists of patients due and overdue for re-screening, and of
referrals awaiting acknowledgement; their CSV export; acknowledging a referral."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from emr.audit import record
from emr.database import session
from emr.exceptions import Conflict, NotFound
from emr.forms import CsrfForm
from emr.orders import get_order
from emr.recall import DUE_NOTICE, RecallLists, acknowledge_referral, recall_csv, recall_lists
from emr.security import current_actor, require
from emr.web import app_config, today

bp = Blueprint("recall", __name__)


def _lists(station: str) -> RecallLists:
    return recall_lists(session(), today(), app_config().zone, station)


@bp.get("/recall")
@require("recall.view")
def index() -> str:
    station = request.args.get("station", "").strip()
    lists = _lists(station)
    db = session()
    record(db, current_actor(), "recall.list", detail={**lists.counts, "station": station})
    db.commit()
    return render_template("recall/index.html", lists=lists, station=station,
                           stations=app_config().stations, form=CsrfForm(),
                           notice_days=DUE_NOTICE.days, today=today())


@bp.get("/recall.csv")
@require("recall.view")
def export() -> Response:
    station = request.args.get("station", "").strip()
    lists = _lists(station)
    db = session()
    record(db, current_actor(), "recall.export", detail={**lists.counts, "station": station})
    db.commit()
    response = Response(recall_csv(lists, app_config().zone), mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f"attachment; filename=fovea-recall-{today().isoformat()}.csv")
    return response


@bp.post("/orders/<int:order_id>/acknowledge-referral")
@require("referrals.acknowledge")
def acknowledge(order_id: int) -> BaseResponse:
    form = CsrfForm()
    db = session()
    order = get_order(db, order_id)
    if form.validate_on_submit():
        try:
            acknowledge_referral(db, order, current_actor(), request.form.get("note", ""))
            db.commit()
            flash(f"Referral of {order.patient.display_name} acknowledged.", "success")
        except (Conflict, NotFound) as exc:
            db.rollback()
            flash(f"Not acknowledged: {exc}", "error")
    else:
        flash("Not acknowledged: the form expired, try again.", "error")
    return redirect(url_for("recall.index"))
