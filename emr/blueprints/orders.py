"""Orders: prescribe a screening, list orders, follow one through its states."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from emr.audit import record
from emr.database import session
from emr.exceptions import TransitionRefused, ValidationError
from emr.forms import OrderForm, StateForm, choices, show_errors
from emr.models import utcnow
from emr.orders import (OrderFilter, OrderRequest, change_state, create_order, get_order,
                        list_orders)
from emr.patients import get_patient
from emr.security import current_actor, require
from emr.states import OrderState, allowed_targets
from emr.web import app_config, local, page_arguments, parse_date, with_zone

bp = Blueprint("orders", __name__)

Page = str | tuple[str, int] | Response


@bp.get("/orders")
@require("orders.view")
def index() -> str:
    states = tuple(OrderState(s) for s in request.args.getlist("state")
                   if s in {v.value for v in OrderState})
    day = parse_date(request.args.get("date"))  # one day: the older links' form
    first = parse_date(request.args.get("from")) or day
    last = parse_date(request.args.get("to")) or day
    station = request.args.get("station", "").strip()
    where = OrderFilter(states=states, scheduled_from=first, scheduled_to=last,
                        station_ae=station, zone=app_config().zone)
    limit, offset = page_arguments()
    db = session()
    orders = list_orders(db, where, limit, offset, newest_first=True)
    record(db, current_actor(), "order.list", detail={"results": len(orders)})
    db.commit()
    return render_template("orders/index.html", orders=orders, states=states, first=first,
                           last=last, station=station, all_states=list(OrderState),
                           stations=app_config().stations, limit=limit, offset=offset)


def _order_form() -> OrderForm:
    form = OrderForm()
    stations = app_config().stations
    form.station_ae.choices = choices([(s, s) for s in stations])
    if request.method == "GET":
        form.station_ae.data = stations[0] if stations else ""
        start = local(utcnow() + timedelta(hours=1))
        if start is not None:
            form.scheduled_at.data = start.replace(minute=0, second=0, microsecond=0,
                                                   tzinfo=None)
    return form


@bp.route("/patients/<int:patient_id>/orders/new", methods=["GET", "POST"])
@require("orders.create")
def new(patient_id: int) -> Page:
    db = session()
    patient = get_patient(db, patient_id)
    form = _order_form()
    if form.validate_on_submit():
        scheduled = form.scheduled_at.data
        prescription = OrderRequest(
            laterality=form.laterality.data or "", priority=form.priority.data or "",
            station_ae=form.station_ae.data or "", reason=form.reason.data or "",
            scheduled_at=with_zone(scheduled) if scheduled else None)
        try:
            order = create_order(db, patient, prescription, current_actor(),
                                 app_config().stations)
            db.commit()
            flash(f"Screening prescribed: accession number {order.accession_number}.",
                  "success")
            return redirect(url_for("orders.show", order_id=order.id))
        except ValidationError as exc:
            show_errors(form, exc)
            db.rollback()
    status = 422 if request.method == "POST" else 200
    return render_template("orders/form.html", form=form, patient=patient), status


@bp.get("/orders/<int:order_id>")
@require("orders.view")
def show(order_id: int) -> str:
    db = session()
    order = get_order(db, order_id)
    record(db, current_actor(), "order.view", patient_id=order.patient_id, order_id=order.id)
    db.commit()
    can_discontinue = OrderState.DISCONTINUED in allowed_targets(order.state)
    return render_template("orders/show.html", order=order, state_form=StateForm(),
                           can_discontinue=can_discontinue)


@bp.post("/orders/<int:order_id>/discontinue")
@require("orders.discontinue")
def discontinue(order_id: int) -> Page:
    db = session()
    order = get_order(db, order_id)
    form = StateForm()
    if not form.validate_on_submit():
        return render_template("orders/show.html", order=order, state_form=form,
                               can_discontinue=True), 422
    try:
        change_state(db, order, OrderState.DISCONTINUED, current_actor(), form.reason.data or "")
        db.commit()
        flash("Order discontinued.", "success")
    except TransitionRefused as exc:
        db.rollback()
        flash(f"Not discontinued: {exc}", "error")
        return render_template("orders/show.html", order=order, state_form=form,
                               can_discontinue=False), 409
    return redirect(url_for("orders.show", order_id=order.id))
