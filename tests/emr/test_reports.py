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


def ai(grade: DrGrade | None, maculopathy: bool | None = None, referable: bool | None = False,
       borderline: bool = False) -> Finding:
    """An AI finding with the node's referral decision (unknown when ungradable)."""
    if grade is None:
        return Finding(None)
    return Finding(grade, maculopathy, referable, borderline)


@pytest.mark.parametrize(("finding", "key", "refer", "urgent", "flag", "action"), [
    (ai(G.NO_DR, False), "no_dr", False, False, False, "Re-screen in 12 months"),
    (ai(G.MILD, False), "mild", False, False, False, "Re-screen in 6 to 12 months"),
    (ai(G.MODERATE, None, True), "refer", True, False, False, "within 3 months"),
    # Issue 15's vector: top grade "no DR", referable by the node's threshold.
    (ai(G.NO_DR, None, True, True), "refer", True, False, False, "within 3 months"),
    # A moderate top grade the node did not refer is not referred here either.
    (ai(G.MODERATE, False, False), "mild", False, False, False, "6 to 12 months"),
    (ai(G.SEVERE, False, True), "urgent", True, True, False, "Refer urgently"),
    (ai(G.PROLIFERATIVE, None, True), "urgent", True, True, False, "Refer urgently"),
    (ai(G.NO_DR, True, True), "urgent", True, True, False, "Refer urgently"),
    # Maculopathy not assessed never takes a "no maculopathy" row: it is flagged.
    (ai(G.NO_DR, None), "no_dr_macula_not_assessed", False, False, True,
     "Flag for an ophthalmologist to assess the macula"),
    (ai(G.MILD, None), "mild_macula_not_assessed", False, False, True, "6 to 12 months"),
    (ai(None), "ungradable", False, True, False, "Re-image"),
])
def test_guideline_table(finding: Finding, key: str, refer: bool, urgent: bool, flag: bool,
                         action: str) -> None:
    recommendation = recommend(finding)
    assert (recommendation.key, recommendation.refer, recommendation.urgent,
            recommendation.flag) == (key, refer, urgent, flag)
    assert action in recommendation.action
    assert recommendation in GUIDELINE_TABLE


def test_the_table_cites_its_guidelines() -> None:
    assert any("ICO Guidelines for Diabetic Eye Care" in s for s in GUIDELINE_SOURCES)
    assert any("Preferred Practice Pattern" in s for s in GUIDELINE_SOURCES)
    assert [r.interval_months for r in GUIDELINE_TABLE] == [(0, 1), (0, 3), (0, 1), (12, 12),
                                                            (6, 12), (12, 12), (6, 12)]
    assert not any(r.finding.endswith("no maculopathy") for r in GUIDELINE_TABLE if r.flag)


@pytest.mark.parametrize(("eyes", "grade", "side", "referable", "reimage"), [
    ({"R": ai(G.NO_DR), "L": ai(G.MODERATE, None, True)}, G.MODERATE, "L", True, ()),
    # The node's decision, not the grade, picks the deciding eye.
    ({"R": ai(G.NO_DR, None, True, True), "L": ai(G.MODERATE)}, G.NO_DR, "R", True, ()),
    ({"R": ai(G.MILD, True, True), "L": ai(G.MODERATE, False, True)}, G.MODERATE, "L", True,
     ()),
    ({"R": ai(None), "L": ai(G.SEVERE, False, True)}, G.SEVERE, "L", True, ("R",)),
    ({"R": ai(None), "L": ai(G.MILD, False)}, None, None, None, ("R",)),
    ({"R": ai(None), "L": ai(None)}, None, None, None, ("R", "L")),
    ({"R": ai(G.PROLIFERATIVE, None, True)}, G.PROLIFERATIVE, "R", True, ()),
    ({"L": ai(G.MILD), "R": ai(G.MILD)}, G.MILD, "R", False, ()),
])
def test_patient_level_result_is_the_worse_eye(eyes: dict[str, Finding], grade: DrGrade | None,
                                               side: str | None, referable: bool | None,
                                               reimage: tuple[str, ...]) -> None:
    patient = worse_eye(eyes)
    assert (patient.grade, patient.eye, patient.referable, patient.reimage) == (
        grade, side, referable, reimage)


def test_the_patient_maculopathy_and_borderline_come_from_the_eyes() -> None:
    assert worse_eye({"R": ai(G.MILD, None), "L": ai(G.MILD, False)}).maculopathy is None
    assert worse_eye({"R": ai(G.MILD, False), "L": ai(G.MILD, False)}).maculopathy is False
    assert worse_eye({"R": ai(G.MILD, None), "L": ai(G.MILD, True, True)}).maculopathy is True
    # Referred: borderline only when every referable eye is.
    assert worse_eye({"R": ai(G.NO_DR, None, True, True), "L": ai(G.NO_DR)}).borderline
    assert not worse_eye({"R": ai(G.NO_DR, None, True, True),
                          "L": ai(G.MODERATE, None, True)}).borderline
    # Not referred: borderline when any eye nearly was.
    assert worse_eye({"R": ai(G.MILD), "L": ai(G.NO_DR, None, False, True)}).borderline
    assert worse_eye({"R": ai(G.NO_DR, None, True, True)}).referable_label == (
        "yes (borderline)")
    assert worse_eye({"R": ai(None)}).referable_label == "unknown"


def test_the_recommendation_names_the_eye_to_re_image() -> None:
    alone = recommend(worse_eye({"R": ai(G.NO_DR, False), "L": ai(None)}))
    assert alone.key == "ungradable" and alone.action.startswith("Re-image the left eye")
    both = recommend(worse_eye({"R": ai(None), "L": ai(None)}))
    assert both.action.startswith("Re-image the right and left eyes")
    beside = recommend(worse_eye({"R": ai(None), "L": ai(G.MODERATE, None, True)}))
    assert beside.key == "refer" and "right eye could not be graded" in beside.notes[0]


def test_an_ai_finding_is_referred_by_the_node_and_a_corrected_one_by_its_grade() -> None:
    # The AI's finding carries the node's decision, whatever its top grade says.
    assert ai(G.NO_DR, None, True).referable and not ai(G.MODERATE, None, False).referable
    with pytest.raises(ValueError, match="referral decision"):
        Finding(G.MODERATE, False)
    with pytest.raises(ValueError, match="ungradable"):
        Finding(None, None, False)
    # An ophthalmologist's grade is the reference standard (Gulshan 2016).
    by_person = Finding.graded_by_ophthalmologist
    assert not by_person(G.MILD, False).referable
    assert by_person(G.MILD, True).referable and by_person(G.MODERATE, None).referable
    assert by_person(None, True) == Finding(None)


@pytest.mark.parametrize(("current", "previous", "trend"), [
    (ai(G.MILD, False), None, Trend.FIRST),
    (ai(G.MODERATE, False, True), ai(G.MILD, False), Trend.PROGRESSED),
    (ai(G.MILD, True, True), ai(G.MILD, False), Trend.PROGRESSED),
    (ai(G.MILD, False), ai(G.MILD, False), Trend.STABLE),
    (ai(G.MILD, None), ai(G.MILD, False), Trend.STABLE),
    (ai(G.NO_DR, False), ai(G.MILD, False), Trend.IMPROVED),
    (ai(G.MILD, False), ai(G.MILD, True, True), Trend.IMPROVED),
    (ai(G.NO_DR, True, True), ai(G.MILD, False), Trend.PROGRESSED),
    (ai(None), ai(G.MILD, False), Trend.NOT_COMPARABLE),
    (ai(G.MILD, False), ai(None), Trend.NOT_COMPARABLE),
])
def test_trend(current: Finding, previous: Finding | None, trend: Trend) -> None:
    assert compare(current, previous) == trend


def test_report_page(app: Flask, auth: AuthActions, graded: Seeded) -> None:
    auth.login("nurse")
    page = auth.client.get(f"/orders/{graded.order_id}/report").text
    assert page.count("Research use only, not for clinical use.") == 2
    for text in ("Moderate non-proliferative diabetic retinopathy",  # right eye, and result
                 "No apparent retinopathy",  # left eye
                 'referable: <strong class="referable">yes</strong>',
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
    assert "ungradable: re-image</strong> (reason: focus)" in page
    assert "Re-image the right eye within 1 month" in page
    assert 'referable: <strong class="referable">unknown</strong>' in page
    assert "Probability of each ICDR grade" in page  # the left eye's, not the right's
    assert page.count("<caption>Probability of each ICDR grade") == 1
