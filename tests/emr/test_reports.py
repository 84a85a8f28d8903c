"""Reports: the worse eye, the guideline table, the trend, and the report page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from emr.decision import GUIDELINE_SOURCES, GUIDELINE_TABLE, recommend
from emr.grading import DrGrade, Finding, worse_eye
from emr.models import utcnow
from emr.trend import Trend, compare

from .conftest import AuthActions, Seeded, add_patient, graded_order

G = DrGrade


@pytest.mark.parametrize(("finding", "key", "refer", "urgent", "action"), [
    (Finding(G.NO_DR, False), "no_dr", False, False, "Re-screen in 12 months"),
    (Finding(G.MILD, False), "mild", False, False, "Re-screen in 6 to 12 months"),
    (Finding(G.MODERATE, False), "moderate", True, False, "within 3 months"),
    (Finding(G.SEVERE, False), "urgent", True, True, "Refer urgently"),
    (Finding(G.PROLIFERATIVE, None), "urgent", True, True, "Refer urgently"),
    (Finding(G.NO_DR, True), "urgent", True, True, "Refer urgently"),
    (Finding(G.MILD, None), "mild", False, False, "6 to 12 months"),
    (Finding(None), "ungradable", False, True, "Re-image"),
])
def test_guideline_table(finding: Finding, key: str, refer: bool, urgent: bool,
                         action: str) -> None:
    recommendation = recommend(finding)
    assert (recommendation.key, recommendation.refer, recommendation.urgent) == (key, refer,
                                                                                 urgent)
    assert action in recommendation.action
    assert recommendation in GUIDELINE_TABLE


def test_the_table_cites_its_guidelines() -> None:
    assert any("ICO Guidelines for Diabetic Eye Care" in s for s in GUIDELINE_SOURCES)
    assert any("Preferred Practice Pattern" in s for s in GUIDELINE_SOURCES)
    assert [r.interval_months for r in GUIDELINE_TABLE] == [(12, 12), (6, 12), (0, 3), (0, 1),
                                                            (0, 1)]


@pytest.mark.parametrize(("eyes", "expected"), [
    ([Finding(G.NO_DR, False), Finding(G.MODERATE, False)], Finding(G.MODERATE, False)),
    ([Finding(G.MILD, True), Finding(G.MODERATE, False)], Finding(G.MODERATE, False)),
    ([Finding(G.MILD, True), Finding(G.MILD, False)], Finding(G.MILD, True)),
    ([Finding(None), Finding(G.SEVERE, False)], Finding(G.SEVERE, False)),
    ([Finding(None), Finding(G.MILD, False)], Finding(None)),
    ([Finding(None), Finding(None)], Finding(None)),
    ([Finding(G.PROLIFERATIVE, None)], Finding(G.PROLIFERATIVE, None)),
])
def test_patient_level_result_is_the_worse_eye(eyes: list[Finding], expected: Finding) -> None:
    assert worse_eye(eyes) == expected


def test_referable_definition() -> None:
    assert not Finding(G.MILD, False).referable
    assert Finding(G.MILD, True).referable
    assert Finding(G.MODERATE, None).referable
    assert not Finding(None).referable


@pytest.mark.parametrize(("current", "previous", "trend"), [
    (Finding(G.MILD, False), None, Trend.FIRST),
    (Finding(G.MODERATE, False), Finding(G.MILD, False), Trend.PROGRESSED),
    (Finding(G.MILD, True), Finding(G.MILD, False), Trend.PROGRESSED),
    (Finding(G.MILD, False), Finding(G.MILD, False), Trend.STABLE),
    (Finding(G.MILD, None), Finding(G.MILD, False), Trend.STABLE),
    (Finding(G.NO_DR, False), Finding(G.MILD, False), Trend.IMPROVED),
    (Finding(G.MILD, False), Finding(G.MILD, True), Trend.IMPROVED),
    (Finding(G.NO_DR, True), Finding(G.MILD, False), Trend.PROGRESSED),
    (Finding(None), Finding(G.MILD, False), Trend.NOT_COMPARABLE),
    (Finding(G.MILD, False), Finding(None), Trend.NOT_COMPARABLE),
])
def test_trend(current: Finding, previous: Finding | None, trend: Trend) -> None:
    assert compare(current, previous) == trend


def test_report_page(app: Flask, auth: AuthActions, graded: Seeded) -> None:
    auth.login("nurse")
    page = auth.client.get(f"/orders/{graded.order_id}/report").text
    assert page.count("Research use only, not for clinical use.") == 2
    for text in ("Moderate non-proliferative diabetic retinopathy",  # right eye, and result
                 "No apparent retinopathy",  # left eye
                 "referable DR: <strong>yes</strong>",
                 "Refer to an ophthalmologist within 3 months",
                 "Trend since the previous screening: <strong>first screening</strong>",
                 "Model fovea-effnet 1.0.0",
                 "Probability of each ICDR grade", "90.0%",
                 "ICO Guidelines for Diabetic Eye Care",
                 "not yet reviewed"):
        assert text in page, text
    assert "Sign the review" not in page  # nurses read; ophthalmologists review


def test_trend_against_previous_screenings(app: Flask, client: FlaskClient,
                                           auth: AuthActions) -> None:
    patient_id = add_patient(app)
    now = utcnow()
    first = graded_order(app, client, patient_id, right=1, left=0,
                         scheduled_at=now - timedelta(hours=20))
    second = graded_order(app, client, patient_id, right=1, left=1,
                          scheduled_at=now - timedelta(hours=10))
    third = graded_order(app, client, patient_id, right=3, left=1, scheduled_at=now)
    auth.login("nurse")
    trends = {}
    for order_id in (first, second, third):
        page = auth.client.get(f"/orders/{order_id}/report").text
        trends[order_id] = page.split("Trend since the previous screening: <strong>")[1] \
            .split("<")[0]
    assert trends == {first: "first screening", second: "stable", third: "progressed"}
    history = auth.client.get(f"/patients/{patient_id}").text
    assert history.index("progressed") < history.index("stable") < history.index(
        "first screening")  # newest first
    assert "Refer urgently" in history


def test_ungradable_report(app: Flask, client: FlaskClient, auth: AuthActions) -> None:
    order_id = graded_order(app, client, add_patient(app), right=None, left=0)
    auth.login("ophthalmologist")
    page = auth.client.get(f"/orders/{order_id}/report").text
    assert "Ungradable" in page and "Re-image within 1 month" in page
    assert "referable DR: <strong>—</strong>" in page
