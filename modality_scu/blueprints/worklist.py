"""Today's worklist of the station, and starting an item (MPPS N-CREATE IN PROGRESS)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.wrappers import Response

from imaging_common.exceptions import PeerError
from imaging_common.logs import get_logger
from modality_scu.database import session as db_session
from modality_scu.forms import StartForm
from modality_scu.models import Procedure, ProcedureState
from modality_scu.mpps_scu import create_step
from modality_scu.procedures import find_open, outbox_status, plan_start, record_started
from modality_scu.web import station, today
from modality_scu.worklist_query import WorklistItem, query_worklist

bp = Blueprint("worklist", __name__)
log = get_logger(__name__)


def _todays_items() -> tuple[list[WorklistItem], str]:
    """Today's items, or none and why (the worklist did not answer)."""
    ctx = station()
    node = ctx.config.worklist
    try:
        return query_worklist(ctx.ae_factory(), node, ctx.config.ae_title, today()), ""
    except PeerError as exc:
        log.warning("worklist unavailable", peer=node.ae_title, reason=str(exc))
        return [], (f"The worklist ({node.ae_title} at {node.host}:{node.port}) did not "
                    f"answer: {exc}. Today's patients cannot be listed; try again in a "
                    f"moment, or ask for the worklist service to be checked.")


@bp.get("/worklist")
@login_required
def index() -> str:
    items, error = _todays_items()
    db = db_session()
    open_exams = db.scalars(select(Procedure).where(Procedure.state.in_(
        (ProcedureState.IN_PROGRESS, ProcedureState.SENDING, ProcedureState.DISCONTINUING)))
        .order_by(Procedure.started_at)).all()
    started = {(p.study_instance_uid, p.scheduled_procedure_step_id): p.id for p in open_exams}
    return render_template("worklist.html", items=items, error=error, day=today(),
                           started=started, open_exams=open_exams, form=StartForm(),
                           outbox=outbox_status(db), config=station().config)


@bp.post("/worklist/start")
@login_required
def start() -> Response:
    form = StartForm()
    if not form.validate_on_submit():
        flash("The request was not understood; choose the patient again.", "error")
        return redirect(url_for("worklist.index"))
    items, error = _todays_items()
    if error:
        flash(f"The examination was not started. {error}", "error")
        return redirect(url_for("worklist.index"))
    item = next((i for i in items if i.key == form.item.data), None)
    ctx = station()
    if item is None:
        flash(f"This patient is no longer on today's worklist of {ctx.config.ae_title} "
              f"(rescheduled, cancelled or done meanwhile); nothing was started.", "error")
        return redirect(url_for("worklist.index"))
    db = db_session()
    existing = find_open(db, item)
    if existing is not None:
        return redirect(url_for("examinations.show", procedure_id=existing.id))
    plan = plan_start(item, ctx.config)
    try:
        create_step(ctx.ae_factory(), ctx.config.worklist, plan.mpps_uid, plan.attributes)
    except PeerError as exc:
        log.warning("examination not started", peer=ctx.config.worklist.ae_title,
                    reason=str(exc))
        flash(f"The examination was not started: the worklist did not accept its "
              f"MPPS N-CREATE (IN PROGRESS). {exc}.", "error")
        return redirect(url_for("worklist.index"))
    procedure = record_started(db, item, plan, current_user.id)
    flash("Examination started: the worklist has been told (MPPS IN PROGRESS).", "success")
    return redirect(url_for("examinations.show", procedure_id=procedure.id))
