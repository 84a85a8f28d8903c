"""Orders: identifiers at creation, prescribing on the page, and every state transition
recorded with who or which service caused it."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from emr.audit import Actor
from emr.database import session
from emr.exceptions import TransitionRefused
from emr.models import AuditEntry, Order, OrderTransition, utcnow
from emr.orders import change_state
from emr.states import TRANSITIONS, OrderState
from imaging_common.uids import UID_ROOT, validate_uid

from .conftest import STATION, AuthActions, add_order, add_patient, load_order, move


def local_input(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M")


def test_identifiers_are_assigned_at_creation(app: Flask) -> None:
    patient_id = add_patient(app)
    orders = [load_order(app, add_order(app, patient_id)) for _ in range(5)]
    for order in orders:
        assert re.fullmatch(r"FV[0-9A-HJKMNP-TV-Z]{10}", order.accession_number)
        token = order.accession_number[2:]
        assert order.requested_procedure_id == f"RP{token}"
        assert order.scheduled_procedure_step_id == f"SPS{token}"
        assert max(len(order.accession_number), len(order.requested_procedure_id),
                   len(order.scheduled_procedure_step_id)) <= 16  # VR SH
        assert validate_uid(order.study_instance_uid, "StudyInstanceUID")
        assert order.study_instance_uid.startswith(f"{UID_ROOT}.")
        assert order.state == OrderState.SCHEDULED
        assert [(t.from_state, t.to_state) for t in order.transitions] == [
            (None, OrderState.SCHEDULED)]
    for attribute in ("accession_number", "study_instance_uid"):
        assert len({getattr(o, attribute) for o in orders}) == len(orders)


def test_prescribe_on_the_page(app: Flask, auth: AuthActions) -> None:
    patient_id = add_patient(app)
    auth.login("nurse")
    page = auth.client.get(f"/patients/{patient_id}/orders/new")
    assert page.status_code == 200 and "FUNDUS_CAM1" in page.text
    when = datetime.now() + timedelta(days=2)
    response = auth.post(f"/patients/{patient_id}/orders/new", {
        "laterality": "right", "priority": "HIGH", "station_ae": "FUNDUS_CAM2",
        "scheduled_at": local_input(when), "reason": "Type 2 diabetes, yearly"})
    assert response.status_code == 302
    shown = auth.client.get(response.headers["Location"], follow_redirects=True)
    with app.app_context():
        order = session().scalars(select(Order)).one()
        assert (order.laterality.value, order.priority.value, order.scheduled_station_ae) == (
            "right", "HIGH", "FUNDUS_CAM2")
        assert order.ordering_user.username == "nurse"
        assert order.scheduled_at.tzinfo is not None
        for value in (order.accession_number, order.requested_procedure_id,
                      order.scheduled_procedure_step_id, order.study_instance_uid):
            assert value in shown.text
    assert "Nurse Tester (nurse)" in shown.text


@pytest.mark.parametrize(("changes", "message"), [
    ({"station_ae": "ROGUE_CAM"}, "Not a valid choice"),
    ({"scheduled_at": "2001-01-01T10:00"}, "schedule between yesterday and a year from now"),
    ({"laterality": "middle"}, "Not a valid choice"),
    ({"reason": "x" * 65}, "Field cannot be longer than 64 characters"),
])
def test_bad_prescriptions_change_nothing(app: Flask, auth: AuthActions,
                                          changes: dict[str, str], message: str) -> None:
    patient_id = add_patient(app)
    auth.login("nurse")
    data = {"laterality": "both", "priority": "ROUTINE", "station_ae": STATION,
            "scheduled_at": local_input(datetime.now() + timedelta(hours=3)), **changes}
    response = auth.post(f"/patients/{patient_id}/orders/new", data)
    assert response.status_code == 422
    assert message in response.text
    with app.app_context():
        assert session().scalar(select(func.count(Order.id))) == 0


def test_every_allowed_transition_is_recorded(app: Flask) -> None:
    patient_id = add_patient(app)
    pairs = [(s, t) for s, targets in TRANSITIONS.items() for t in targets]
    order_ids = [add_order(app, patient_id) for _ in pairs]
    before = utcnow()
    with app.app_context():
        db = session()
        service = Actor(service="worklist", remote_addr="127.0.0.1")
        for order_id, (current, target) in zip(order_ids, pairs):
            order = db.get(Order, order_id)
            assert order is not None
            order.state = current  # put the order where the move starts
            made = change_state(db, order, target, service, reason="test reason")
            assert made is not None and order.state == target
        db.commit()
        for order_id, (current, target) in zip(order_ids, pairs):
            last = db.scalars(select(OrderTransition).where(OrderTransition.order_id == order_id)
                              .order_by(OrderTransition.id.desc())).first()
            assert last is not None
            assert (last.from_state, last.to_state) == (current, target)
            assert last.service == "worklist" and last.user_id is None
            assert last.at >= before - timedelta(seconds=1)
        audited = db.scalar(select(func.count(AuditEntry.id)).where(
            AuditEntry.action == "order.transition", AuditEntry.service == "worklist"))
        assert audited == len(pairs)


def test_a_refused_transition_changes_nothing(app: Flask) -> None:
    order_id = add_order(app, add_patient(app))
    with app.app_context():
        db = session()
        order = db.get(Order, order_id)
        assert order is not None
        with pytest.raises(TransitionRefused, match="cannot move to 'ai_done'"):
            change_state(db, order, OrderState.AI_DONE, Actor(service="ai"))
        db.rollback()
        assert db.get(Order, order_id).state == OrderState.SCHEDULED  # type: ignore[union-attr]
        assert db.scalar(select(func.count(OrderTransition.id))) == 1


def test_the_whole_workflow_over_the_api_is_shown_on_the_order_page(
        app: Flask, client: FlaskClient, auth: AuthActions) -> None:
    order_id = add_order(app, add_patient(app))
    move(client, order_id, "in_progress", "acquired", service="worklist")
    move(client, order_id, "ai_queued", "ai_running", service="ai")
    order = load_order(app, order_id)
    assert [t.to_state.value for t in order.transitions] == [
        "scheduled", "in_progress", "acquired", "ai_queued", "ai_running"]
    assert [t.service for t in order.transitions] == [None, "worklist", "worklist", "ai", "ai"]
    auth.login("technician")
    page = auth.client.get(f"/orders/{order_id}").text
    assert page.count("service worklist") == 2 and page.count("service ai") == 2
    assert "Nurse Tester (nurse)" in page


def test_nurse_discontinues_with_a_reason(app: Flask, auth: AuthActions) -> None:
    order_id = add_order(app, add_patient(app))
    auth.login("nurse")
    missing = auth.post(f"/orders/{order_id}/discontinue", {"reason": ""})
    assert missing.status_code == 422
    assert load_order(app, order_id).state == OrderState.SCHEDULED
    done = auth.post(f"/orders/{order_id}/discontinue", {"reason": "Patient moved away"})
    assert done.status_code == 302
    order = load_order(app, order_id)
    assert order.state == OrderState.DISCONTINUED and order.state_reason == "Patient moved away"
    assert order.transitions[-1].user_id is not None
    again = auth.post(f"/orders/{order_id}/discontinue", {"reason": "twice"})
    assert again.status_code == 302  # already discontinued: nothing to do
    assert len(load_order(app, order_id).transitions) == 2


def test_discontinuing_a_graded_order_is_refused(app: Flask, client: FlaskClient,
                                                 auth: AuthActions) -> None:
    order_id = add_order(app, add_patient(app))
    move(client, order_id, "in_progress", "acquired", "ai_queued")
    auth.login("nurse")
    response = auth.post(f"/orders/{order_id}/discontinue", {"reason": "no longer needed"})
    assert response.status_code == 409
    assert "cannot move to &#39;discontinued&#39;" in response.text
    assert load_order(app, order_id).state == OrderState.AI_QUEUED


def test_order_list_filters(app: Flask, client: FlaskClient, auth: AuthActions) -> None:
    patient_id = add_patient(app)
    first = add_order(app, patient_id)
    second = add_order(app, patient_id, station="FUNDUS_CAM2")
    move(client, second, "in_progress")
    auth.login("technician")
    accession = {i: load_order(app, i).accession_number for i in (first, second)}
    page = auth.client.get("/orders?state=in_progress").text
    assert accession[second] in page and accession[first] not in page
    page = auth.client.get("/orders?station=FUNDUS_CAM1").text
    assert accession[first] in page and accession[second] not in page


def test_order_list_is_newest_first_within_a_date_range(app: Flask, auth: AuthActions) -> None:
    patient_id = add_patient(app)
    soon = utcnow() + timedelta(hours=2)
    ids = [add_order(app, patient_id, scheduled_at=soon + timedelta(days=n)) for n in (0, 3, 9)]
    accession = [load_order(app, i).accession_number for i in ids]
    auth.login("nurse")
    page = auth.client.get("/orders").text
    assert page.index(accession[2]) < page.index(accession[1]) < page.index(accession[0])
    start, end = ((soon + timedelta(days=n)).date() for n in (1, 4))
    page = auth.client.get(f"/orders?from={start}&to={end}").text
    assert accession[1] in page
    assert accession[0] not in page and accession[2] not in page
