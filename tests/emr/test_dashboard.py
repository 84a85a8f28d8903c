"""The screening dashboard's figures, per station and period."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient

from emr.dashboard import screening_figures
from emr.database import session
from emr.models import utcnow
from emr.web import today

from .conftest import (TO_AI_RUNNING, AuthActions, add_order, add_patient, bearer,
                       graded_order, move, result_body)


def test_figures(app: Flask, client: FlaskClient, auth: AuthActions) -> None:
    patient_id = add_patient(app)
    graded_order(app, client, patient_id, right=0, left=0)  # no DR
    graded_order(app, client, patient_id, right=2, left=1)  # referable
    graded_order(app, client, patient_id, right=None, left=0)  # ungradable
    add_order(app, patient_id)  # not screened yet
    other = add_order(app, patient_id, station="FUNDUS_CAM2")
    move(client, other, *TO_AI_RUNNING)
    client.post(f"/api/v1/orders/{other}/results", json=result_body(right=4, left=0),
                headers=bearer("ai"))
    with app.app_context():
        day = today()
        total, cam1, cam2 = screening_figures(session(), day - timedelta(days=1),
                                              day + timedelta(days=1), app.extensions[
                                                  "fovea_config"].zone)
    assert (total.station, total.orders, total.screenings, total.gradable, total.referable) == (
        "all", 5, 4, 3, 2)
    assert total.grades == {"0": 1, "2": 1, "ungradable": 1, "4": 1}
    assert total.gradable_share == 0.75 and total.referable_rate == 2 / 3
    assert total.median_turnaround_hours is not None and total.median_turnaround_hours >= 0
    assert (cam1.station, cam1.orders, cam1.screenings) == ("FUNDUS_CAM1", 4, 3)
    assert (cam2.station, cam2.screenings, cam2.referable) == ("FUNDUS_CAM2", 1, 1)
    auth.login("admin")
    # The orders are scheduled a few hours ahead: late in the day that is tomorrow.
    period = f"from={day - timedelta(days=1)}&to={day + timedelta(days=1)}"
    page = auth.client.get(f"/dashboard?{period}").text
    assert "<svg" in page and "Grade distribution" in page and "75%" in page
    narrowed = auth.client.get(f"/dashboard?{period}&station=FUNDUS_CAM2").text
    assert "FUNDUS_CAM1</th>" not in narrowed
    empty = auth.client.get(f"/dashboard?from={(utcnow() + timedelta(days=30)).date()}"
                            f"&to={(utcnow() + timedelta(days=40)).date()}").text
    assert "—" in empty
