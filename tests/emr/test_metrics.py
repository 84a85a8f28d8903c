"""The EMR's /metrics: its requests by endpoint, and orders, transitions and results
counted once their transaction commits; no log-in needed, no patient data shown."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient

from emr.audit import Actor
from emr.database import session
from emr.models import Patient, User
from emr.orders import OrderRequest, create_order
from tests.scrape import Samples, parse, value

from .conftest import (
    STATION,
    STATIONS,
    TO_AI_RUNNING,
    AuthActions,
    add_patient,
    bearer,
    move,
    result_body,
    user,
)
from .test_orders import local_input

REQUESTS = "fovea_http_requests_total"


def _scrape(client: FlaskClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    return parse(response.text)


def _prescribe(auth: AuthActions, patient_id: int, **changes: str) -> int:
    when = datetime.now() + timedelta(hours=3)
    return auth.post(f"/patients/{patient_id}/orders/new", {
        "laterality": "both", "priority": "ROUTINE", "station_ae": STATION,
        "scheduled_at": local_input(when), **changes}).status_code


def test_orders_transitions_results_and_requests_are_counted(
        app: Flask, client: FlaskClient, auth: AuthActions) -> None:
    patient_id = add_patient(app, mrn="MRN-METRICS-7", family="Zebedee")
    before = _scrape(client)  # no log-in

    auth.login("nurse")
    assert _prescribe(auth, patient_id) == 302
    assert _prescribe(auth, patient_id, station_ae="ROGUE_CAM") == 422
    with app.app_context():  # a prescription rolled back counts nothing
        db = session()
        nurse = db.get(User, user(app, "nurse").id)
        patient = db.get(Patient, patient_id)
        assert patient is not None
        order = create_order(db, patient, OrderRequest(
            "both", "ROUTINE", STATION, datetime.now().astimezone() + timedelta(hours=1)),
            Actor(user=nurse), STATIONS)
        db.rollback()
    order_id = client.get("/api/v1/orders", headers=bearer("ai")).json["orders"][0]["id"]
    move(client, order_id, *TO_AI_RUNNING)
    body = result_body(right=1, left=0)
    url = f"/api/v1/orders/{order_id}/results"
    assert client.post(url, json=body, headers=bearer("ai")).status_code == 201
    assert client.post(url, json=body, headers=bearer("ai")).status_code == 200  # a repeat

    after = _scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("fovea_emr_orders_created_total") == 1
    for state in ("scheduled", *TO_AI_RUNNING, "ai_done"):
        assert delta("fovea_emr_order_transitions_total", to_state=state) == 1, state
    assert delta("fovea_emr_results_posted_total") == 1
    assert delta(REQUESTS, endpoint="orders.new", method="POST", status="302") == 1
    assert delta(REQUESTS, endpoint="orders.new", method="POST", status="422") == 1
    assert delta(REQUESTS, endpoint="api.transition", method="POST", status="201") == 4
    assert delta(REQUESTS, endpoint="api.post_result", method="POST", status="201") == 1
    assert delta(REQUESTS, endpoint="api.post_result", method="POST", status="200") == 1
    assert delta(REQUESTS, endpoint="metrics", method="GET", status="200") == 1
    text = client.get("/metrics").text
    for secret in ("MRN-METRICS-7", "Zebedee", order.accession_number, f"/orders/{order_id}"):
        assert secret not in text
