"""Recall: due dates from the latest signed or AI result, the lists, the CSV, acknowledging."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from emr.database import session
from emr.models import AuditEntry, Patient, utcnow
from emr.recall import RecallStatus, add_months, recall_csv, recall_entry, recall_lists
from emr.web import app_config

from .conftest import AuthActions, add_order, add_patient, graded_order

TODAY = utcnow().date()


@pytest.mark.parametrize(("day", "months", "expected"), [
    (date(2026, 1, 31), 1, date(2026, 2, 28)),
    (date(2026, 12, 6), 1, date(2027, 1, 6)),
    (date(2024, 2, 29), 12, date(2025, 2, 28)),
    (date(2026, 5, 1), 0, date(2026, 5, 1)),
])
def test_add_months(day: date, months: int, expected: date) -> None:
    assert add_months(day, months) == expected


def status_on(app: Flask, patient_id: int, day: date) -> RecallStatus | None:
    with app.app_context():
        patient = session().get(Patient, patient_id)
        assert patient is not None
        entry = recall_entry(session(), patient, day, app_config().zone)
        return None if entry is None else entry.status


def test_interval_sets_due_and_overdue(app: Flask, client: FlaskClient) -> None:
    no_dr = add_patient(app, mrn="M-NODR")
    graded_order(app, client, no_dr, right=0, left=0)
    assert status_on(app, no_dr, TODAY) is RecallStatus.NOT_YET
    assert status_on(app, no_dr, add_months(TODAY, 12) - timedelta(days=10)) is RecallStatus.DUE
    assert status_on(app, no_dr, add_months(TODAY, 12) + timedelta(days=1)) is \
        RecallStatus.OVERDUE
    mild = add_patient(app, mrn="M-MILD", given="Joan")
    graded_order(app, client, mild, right=1, left=0)
    assert status_on(app, mild, add_months(TODAY, 5)) is RecallStatus.NOT_YET
    assert status_on(app, mild, add_months(TODAY, 7)) is RecallStatus.DUE
    assert status_on(app, mild, add_months(TODAY, 13)) is RecallStatus.OVERDUE
    assert status_on(app, add_patient(app, mrn="M-NEW", given="Ann"), TODAY) is None


def test_a_later_open_order_is_booked(app: Flask, client: FlaskClient) -> None:
    patient_id = add_patient(app)
    graded_order(app, client, patient_id, right=1, left=1)
    add_order(app, patient_id, scheduled_at=utcnow() + timedelta(days=3))
    assert status_on(app, patient_id, add_months(TODAY, 13)) is RecallStatus.BOOKED


def test_signed_review_wins_over_the_ai(app: Flask, client: FlaskClient,
                                        auth: AuthActions) -> None:
    patient_id = add_patient(app)
    order_id = graded_order(app, client, patient_id, right=2, left=0)
    assert status_on(app, patient_id, TODAY) is RecallStatus.REFERRAL
    auth.login("ophthalmologist")
    response = auth.post(f"/orders/{order_id}/review", {
        "R_decision": "correct", "R_grade": "0", "R_maculopathy": "no",
        "R_comment": "Second look: no retinopathy",
        "L_decision": "approve"})
    assert response.status_code == 302
    assert status_on(app, patient_id, TODAY) is RecallStatus.NOT_YET
    assert status_on(app, patient_id, add_months(TODAY, 12) + timedelta(days=1)) is \
        RecallStatus.OVERDUE


def test_nurse_acknowledges_a_referral_once(app: Flask, client: FlaskClient,
                                            auth: AuthActions) -> None:
    patient_id = add_patient(app, mrn="M-REF")
    order_id = graded_order(app, client, patient_id, right=3, left=0)
    auth.login("nurse")
    page = auth.client.get("/recall").text
    assert "M-REF" in page and "Acknowledge referral" in page
    assert '<strong id="count-referrals">1</strong>' in page
    response = auth.post(f"/orders/{order_id}/acknowledge-referral", {"note": "booked"})
    assert response.status_code == 302
    page = auth.client.get(response.headers["Location"]).text
    assert "acknowledged" in page and "M-REF" not in page.split("<h2>")[1]
    assert status_on(app, patient_id, TODAY) is RecallStatus.ACKNOWLEDGED
    again = auth.post(f"/orders/{order_id}/acknowledge-referral", {})
    assert "acknowledged already" in auth.client.get(again.headers["Location"]).text
    with app.app_context():
        actions = session().scalars(select(AuditEntry.action)
                                    .where(AuditEntry.order_id == order_id)).all()
    assert actions.count("referral.acknowledge") == 1


def test_only_nurses_acknowledge_and_technicians_see_no_recall(
        app: Flask, client: FlaskClient, auth: AuthActions) -> None:
    order_id = graded_order(app, client, add_patient(app), right=3, left=0)
    auth.login("ophthalmologist")
    assert auth.client.get("/recall").status_code == 200
    assert auth.post(f"/orders/{order_id}/acknowledge-referral", {}).status_code == 403
    auth.logout()
    auth.login("technician")
    assert auth.client.get("/recall").status_code == 403
    assert auth.client.get("/recall.csv").status_code == 403


def test_csv_export_is_spreadsheet_safe(app: Flask, client: FlaskClient,
                                        auth: AuthActions) -> None:
    patient_id = add_patient(app, mrn="M-CSV")
    graded_order(app, client, patient_id, right=3, left=0)
    with app.app_context():
        db = session()
        patient = db.get(Patient, patient_id)
        assert patient is not None
        patient.family_name = "=HYPERLINK(\"http://x\")"  # past validation, as an import might
        db.commit()
    auth.login("nurse")
    response = auth.client.get("/recall.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["list"], r["mrn"]) for r in rows] == [("referral", "M-CSV")]
    assert rows[0]["family_name"] == "'=HYPERLINK(\"http://x\")"
    with app.app_context():
        assert session().scalar(select(AuditEntry.action).order_by(
            AuditEntry.id.desc())) == "recall.export"
        lists = recall_lists(session(), TODAY, app_config().zone)
        assert recall_csv(lists, app_config().zone).startswith("list,mrn,")


def test_dashboard_counts(app: Flask, client: FlaskClient, auth: AuthActions) -> None:
    graded_order(app, client, add_patient(app), right=3, left=0)
    auth.login("nurse")
    page = auth.client.get("/dashboard").text
    assert '<strong id="dashboard-referrals">1</strong>' in page
    assert '<strong id="dashboard-overdue">0</strong>' in page
    assert 'href="/recall"' in page


def test_patient_page_states_the_recall(app: Flask, client: FlaskClient,
                                        auth: AuthActions) -> None:
    referred = add_patient(app, mrn="M-R")
    graded_order(app, client, referred, right=3, left=0)
    mild = add_patient(app, mrn="M-M", given="Joan")
    graded_order(app, client, mild, right=1, left=0)
    auth.login("nurse")
    page = auth.client.get(f"/patients/{referred}").text
    assert "Referral\n    not yet acknowledged" in page
    page = auth.client.get(f"/patients/{mild}").text
    assert (f"Re-screen from {add_months(TODAY, 6)} by {add_months(TODAY, 12)}" in page)
    auth.logout()
    auth.login("technician")
    assert "Re-screen" not in auth.client.get(f"/patients/{mild}").text
