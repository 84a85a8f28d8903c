"""The review queue: most urgent first, with MRN, worse-eye AI grade and recommendation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient

from emr.grading import DrGrade, PatientFinding
from emr.review_queue import urgency

from .conftest import (TO_AI_RUNNING, AuthActions, add_order, add_patient, bearer,
                       load_order, move, result_body)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def finding(grade: int | None, referable: bool, maculopathy: bool = False) -> PatientFinding:
    if grade is None:
        return PatientFinding(None, reimage=("R",))
    return PatientFinding(DrGrade(grade), maculopathy, referable)


def test_urgency_puts_referable_first_then_ungradable_then_grade_then_age() -> None:
    entries = {
        "old mild": urgency(finding(1, False), T0),
        "new mild": urgency(finding(1, False), T0 + timedelta(hours=1)),
        "no DR": urgency(finding(0, False), T0 - timedelta(days=9)),
        "ungradable": urgency(finding(None, False), T0 + timedelta(days=2)),
        "moderate": urgency(finding(2, True), T0 + timedelta(days=1)),
        "proliferative": urgency(finding(4, True), T0 + timedelta(days=3)),
        "moderate with DME": urgency(finding(2, True, maculopathy=True), T0 + timedelta(days=3)),
    }
    assert sorted(entries, key=entries.__getitem__) == [
        "proliferative", "moderate with DME", "moderate", "ungradable", "old mild",
        "new mild", "no DR"]


def graded_at(app: Flask, client: FlaskClient, patient_id: int, right: int | None,
              left: int | None, station: str = "FUNDUS_CAM1") -> int:
    order_id = add_order(app, patient_id, station=station)
    move(client, order_id, *TO_AI_RUNNING)
    response = client.post(f"/api/v1/orders/{order_id}/results",
                           json=result_body(right, left), headers=bearer("ai"))
    assert response.status_code == 201, response.json
    return order_id


def test_queue_page_orders_by_urgency_and_filters_by_station(
        app: Flask, client: FlaskClient, auth: AuthActions) -> None:
    patient_id = add_patient(app, mrn="MRN-Q1")
    no_dr = graded_at(app, client, patient_id, 0, 0)
    severe = graded_at(app, client, patient_id, 0, 3, station="FUNDUS_CAM2")
    mild = graded_at(app, client, patient_id, 1, 0)
    moderate = graded_at(app, client, patient_id, 2, 1)
    accession = {i: load_order(app, i).accession_number for i in (no_dr, severe, mild, moderate)}
    auth.login("ophthalmologist")
    page = auth.client.get("/reviews").text
    positions = [page.index(accession[i]) for i in (severe, moderate, mild, no_dr)]
    assert positions == sorted(positions)
    assert "MRN-Q1" in page and "Severe non-proliferative" in page
    assert "Refer urgently" in page and "re-screen in 12 months" in page
    page = auth.client.get("/reviews?station=FUNDUS_CAM2").text
    assert accession[severe] in page and accession[moderate] not in page
    later = (datetime.now(UTC) + timedelta(days=30)).date()
    assert "Nothing to review" in auth.client.get(f"/reviews?from={later}").text
