"""Prescribing screenings, moving orders through their states, and finding orders.

Every state change goes through :func:`change_state`, which asks
:mod:`emr.states` whether the move is allowed, records the transition (who or
which service, when, why) and the audit entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from emr.audit import Actor, record
from emr.exceptions import NotFound, TransitionRefused, ValidationError
from emr.identifiers import new_identifiers
from emr.models import Laterality, Order, OrderTransition, Patient, Priority, utcnow
from emr.states import InvalidTransition, OrderState, check_transition
from imaging_common.logs import correlate
from imaging_common.exceptions import ConfigError
from imaging_common.settings import validate_ae_title

__all__ = ["OrderFilter", "OrderRequest", "PROCEDURE_DESCRIPTION", "change_state",
           "create_order", "get_order", "list_orders"]

#: Requested Procedure Description (0032,1060) of every order this EMR writes.
PROCEDURE_DESCRIPTION = "AI diabetic retinopathy screening"
#: How far ahead an order may be scheduled, and how late it may be entered.
SCHEDULE_AHEAD = timedelta(days=366)
SCHEDULE_BEHIND = timedelta(days=1)
_LO_FORBIDDEN = re.compile(r"[\\\x00-\x1f]")


@dataclass(frozen=True)
class OrderRequest:
    """What a nurse prescribes."""

    laterality: str
    priority: str
    station_ae: str
    scheduled_at: datetime | None
    reason: str = ""


def _validate(request: OrderRequest, stations: tuple[str, ...], now: datetime) -> dict[str, str]:
    errors = {}
    if request.laterality not in {v.value for v in Laterality}:
        errors["laterality"] = "choose both eyes, right or left"
    if request.priority not in {v.value for v in Priority}:
        errors["priority"] = "choose ROUTINE, HIGH or STAT"
    try:
        station = validate_ae_title(request.station_ae)
        if stations and station not in stations:
            errors["station_ae"] = f"not a station of this network ({', '.join(stations)})"
    except ConfigError as exc:
        errors["station_ae"] = str(exc)
    if request.scheduled_at is None or request.scheduled_at.tzinfo is None:
        errors["scheduled_at"] = "give the date and time of the appointment"
    elif not now - SCHEDULE_BEHIND <= request.scheduled_at <= now + SCHEDULE_AHEAD:
        errors["scheduled_at"] = "schedule between yesterday and a year from now"
    # Reason for the Requested Procedure (0040,1002) is LO: 64 characters.
    if len(request.reason.strip()) > 64 or _LO_FORBIDDEN.search(request.reason):
        errors["reason"] = "at most 64 characters, on one line, without backslash"
    return errors


def create_order(db: Session, patient: Patient, request: OrderRequest, actor: Actor,
                 stations: tuple[str, ...], now: datetime | None = None) -> Order:
    """Prescribe a screening: validate, assign identifiers, record the first state."""
    now = now or utcnow()
    errors = _validate(request, stations, now)
    if errors:
        raise ValidationError("the prescription is not valid", errors)
    if actor.user is None:
        raise ValueError("orders are prescribed by a person")
    identifiers = new_identifiers(db)
    order = Order(
        patient=patient, laterality=Laterality(request.laterality),
        priority=Priority(request.priority), reason=request.reason.strip(),
        ordering_user=actor.user, scheduled_station_ae=request.station_ae.strip(),
        scheduled_at=request.scheduled_at, state=OrderState.SCHEDULED,
        accession_number=identifiers.accession_number,
        requested_procedure_id=identifiers.requested_procedure_id,
        scheduled_procedure_step_id=identifiers.scheduled_procedure_step_id,
        study_instance_uid=identifiers.study_instance_uid)
    order.transitions.append(OrderTransition(
        from_state=None, to_state=OrderState.SCHEDULED, at=now, user_id=actor.user_id,
        service=actor.service))
    db.add(order)
    db.flush()
    correlate(accession_number=order.accession_number)
    record(db, actor, "order.create", patient_id=patient.id, order_id=order.id,
           detail={"accession_number": order.accession_number})
    return order


def change_state(db: Session, order: Order, target: OrderState | str, actor: Actor,
                 reason: str = "", now: datetime | None = None) -> OrderTransition | None:
    """Move ``order`` to ``target``; ``None`` if it is already there (a repeat is harmless).

    Raises:
        ValidationError: ``target`` is not a state.
        TransitionRefused: the move is not allowed, or lacks a needed reason.
    """
    try:
        target = OrderState(target)
    except ValueError:
        raise ValidationError(f"unknown state {target!r}",
                              {"state": f"one of {', '.join(s.value for s in OrderState)}"}
                              ) from None
    correlate(accession_number=order.accession_number)
    if order.state == target:
        return None
    try:
        check_transition(order.state, target, reason)
    except InvalidTransition as exc:
        raise TransitionRefused(str(exc)) from exc
    transition = OrderTransition(
        from_state=order.state, to_state=target, reason=reason.strip(), at=now or utcnow(),
        user_id=actor.user_id, service=actor.service)
    order.transitions.append(transition)
    order.state = target
    order.state_reason = reason.strip()
    db.flush()
    record(db, actor, "order.transition", patient_id=order.patient_id, order_id=order.id,
           detail={"from": transition.from_state, "to": target.value})
    return transition


def get_order(db: Session, order_id: int) -> Order:
    """The order with this id, or :class:`NotFound`."""
    order = db.get(Order, order_id)
    if order is None:
        raise NotFound(f"no order {order_id}")
    correlate(accession_number=order.accession_number)  # on this request's log lines
    return order


@dataclass(frozen=True)
class OrderFilter:
    """Criteria for listing orders; each one given narrows the list.

    ``scheduled_from`` and ``scheduled_to`` are dates in ``zone`` (the site's
    time zone), both ends included.
    """

    states: tuple[OrderState, ...] = ()
    scheduled_from: date | None = None
    scheduled_to: date | None = None
    station_ae: str = ""
    accession_number: str = ""
    study_instance_uid: str = ""
    patient_id: int | None = None
    zone: tzinfo | None = None


def _filtered(query: Select[tuple[Order]], where: OrderFilter) -> Select[tuple[Order]]:
    zone = where.zone or UTC
    if where.states:
        query = query.where(Order.state.in_(where.states))
    if where.scheduled_from is not None:
        query = query.where(Order.scheduled_at >= datetime.combine(
            where.scheduled_from, time.min, zone))
    if where.scheduled_to is not None:
        query = query.where(Order.scheduled_at < datetime.combine(
            where.scheduled_to + timedelta(days=1), time.min, zone))
    for column, value in ((Order.scheduled_station_ae, where.station_ae),
                          (Order.accession_number, where.accession_number),
                          (Order.study_instance_uid, where.study_instance_uid)):
        if value:
            query = query.where(column == value)
    if where.patient_id is not None:
        query = query.where(Order.patient_id == where.patient_id)
    return query


def list_orders(db: Session, where: OrderFilter, limit: int = 100,
                offset: int = 0, newest_first: bool = False) -> list[Order]:
    """Orders matching ``where``, by scheduled time then id (latest first if asked)."""
    keys = ((Order.scheduled_at.desc(), Order.id.desc()) if newest_first
            else (Order.scheduled_at, Order.id))
    query = _filtered(select(Order), where).order_by(*keys)
    return list(db.scalars(query.limit(limit).offset(offset)))
