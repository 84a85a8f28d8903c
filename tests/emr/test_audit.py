"""The audit log: every view or change of patient data, by whom, viewable by admins,
and impossible to change (refused by the ORM and by the database itself)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from emr.audit import AuditLogIsAppendOnly
from emr.database import database, session
from emr.models import AuditEntry

from .conftest import AuthActions, Seeded, add_order, add_patient, bearer


def entries(app: Flask) -> list[tuple[str, str, int | None]]:
    """(actor, action, patient id) of every entry, oldest first."""
    with app.app_context():
        rows = session().scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [(e.actor, e.action, e.patient_id) for e in rows]


def test_views_and_changes_are_recorded_with_the_actor(app: Flask, client: FlaskClient,
                                                       auth: AuthActions) -> None:
    patient_id = add_patient(app)
    order_id = add_order(app, patient_id)
    auth.login("nurse")
    auth.client.get(f"/patients/{patient_id}")
    auth.client.get(f"/orders/{order_id}")
    client.get(f"/api/v1/orders/{order_id}", headers=bearer("worklist"))
    client.post(f"/api/v1/orders/{order_id}/transitions", json={"state": "in_progress"},
                headers=bearer("worklist"))
    assert entries(app) == [
        ("nurse (nurse)", "patient.create", patient_id),
        ("nurse (nurse)", "order.create", patient_id),
        ("nurse (nurse)", "patient.view", patient_id),
        ("nurse (nurse)", "order.view", patient_id),
        ("service worklist", "order.view", patient_id),
        ("service worklist", "order.transition", patient_id),
    ]


def test_reports_and_reviews_are_recorded(app: Flask, auth: AuthActions,
                                          graded: Seeded) -> None:
    auth.login("ophthalmologist")
    auth.client.get(f"/orders/{graded.order_id}/report")
    auth.post(f"/orders/{graded.order_id}/review", {"R_decision": "approve",
                                                    "L_decision": "approve"})
    actions = [(actor, action) for actor, action, _ in entries(app)]
    assert ("service ai", "result.create") in actions
    assert actions[-3:] == [("ophthalmologist (ophthalmologist)", "report.view"),
                            ("ophthalmologist (ophthalmologist)", "review.create"),
                            ("ophthalmologist (ophthalmologist)", "order.transition")]


def test_admins_read_the_log(app: Flask, auth: AuthActions) -> None:
    add_patient(app, mrn="MRN-77")
    auth.login("admin")
    page = auth.client.get("/audit")
    assert page.status_code == 200
    assert "patient.create" in page.text and "MRN-77" in page.text
    filtered = auth.client.get("/audit?action=order.&mrn=MRN-77").text
    assert "patient.create" not in filtered
    by_user = auth.client.get("/audit?user=nurse").text
    assert "patient.create" in by_user
    assert entries(app)[-1][1] == "audit.view"  # reading the log is recorded too


def test_the_log_has_no_edit_route(app: Flask) -> None:
    methods = {m for rule in app.url_map.iter_rules() if rule.rule.startswith("/audit")
               for m in rule.methods or ()}
    assert methods <= {"GET", "HEAD", "OPTIONS"}


def test_the_orm_refuses_to_change_or_delete_entries(app: Flask) -> None:
    add_patient(app)
    with app.app_context():
        db = session()
        entry = db.scalars(select(AuditEntry)).first()
        assert entry is not None
        entry.action = "nothing.happened"
        with pytest.raises(AuditLogIsAppendOnly):
            db.flush()
        db.rollback()
        db.delete(db.scalars(select(AuditEntry)).first())
        with pytest.raises(AuditLogIsAppendOnly):
            db.flush()


@pytest.mark.parametrize("statement", [
    "UPDATE audit_entries SET action = 'nothing.happened'",
    "DELETE FROM audit_entries",
])
def test_the_database_refuses_to_change_or_delete_entries(app: Flask, statement: str) -> None:
    add_patient(app)
    engine = database(app).engine
    with pytest.raises(DBAPIError, match="append-only"):
        with engine.begin() as connection:
            connection.execute(text(statement))
    assert [action for _, action, _ in entries(app)] == ["patient.create"]
