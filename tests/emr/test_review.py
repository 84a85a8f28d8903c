"""Ophthalmologists' review: approval, correction kept beside the AI result, label export."""

from __future__ import annotations

import csv
import re
import io

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from emr.database import session
from emr.labels import LABEL_COLUMNS
from emr.models import AuditEntry, EyeResult, Review

from .conftest import (TO_AI_RUNNING, AuthActions, Seeded, add_order, add_patient, graded_order,
                       load_order, move, result_body, user)
from .test_results import post, two_photograph_eyes


def approve_both() -> dict[str, str]:
    return {"R_decision": "approve", "L_decision": "approve"}


def test_approval_signs_off_the_order(app: Flask, auth: AuthActions, graded: Seeded) -> None:
    auth.login("ophthalmologist")
    page = auth.client.get(f"/orders/{graded.order_id}/report").text
    assert "Sign the review" in page
    response = auth.post(f"/orders/{graded.order_id}/review", approve_both())
    assert response.status_code == 302, re.findall(r'class="error"[^>]*>([^<]*)', response.text)
    order = load_order(app, graded.order_id)
    assert order.state.value == "reviewed"
    assert order.transitions[-1].user_id == user(app, "ophthalmologist").id
    report = auth.client.get(f"/orders/{graded.order_id}/report").text
    assert report.count("Approved") == 2 and "reviewed" in report


def test_a_correction_is_kept_beside_the_ai_result(app: Flask, auth: AuthActions,
                                                   graded: Seeded) -> None:
    auth.login("ophthalmologist")
    response = auth.post(f"/orders/{graded.order_id}/review", {
        "R_decision": "correct", "R_grade": "3", "R_maculopathy": "yes",
        "R_comment": "Venous beading in two quadrants", "L_decision": "approve"})
    assert response.status_code == 302
    with app.app_context():
        right = session().scalar(select(EyeResult).where(EyeResult.laterality == "R"))
        assert right is not None
        assert (right.grade, right.maculopathy) == (2, None)  # the AI's finding is untouched
        review = right.review
        assert review is not None and review.decision.value == "correct"
        assert (review.grade, review.maculopathy) == (3, True)
        assert right.effective_finding.grade == 3
    report = auth.client.get(f"/orders/{graded.order_id}/report").text
    assert "Corrected to: Severe non-proliferative diabetic retinopathy, with maculopathy" in report
    assert "AI grade</dt><dd>Moderate non-proliferative diabetic retinopathy" in report
    assert "Refer urgently" in report  # the recommendation follows the reviewed finding


def test_an_amended_review_is_added_and_the_latest_counts(
        app: Flask, auth: AuthActions, graded: Seeded) -> None:
    auth.login("ophthalmologist")
    auth.post(f"/orders/{graded.order_id}/review", approve_both())
    page = auth.client.get(f"/orders/{graded.order_id}/report").text
    assert "Amend the review" in page
    response = auth.post(f"/orders/{graded.order_id}/review", {
        "R_decision": "correct", "R_grade": "1", "R_comment": "Second look: mild only",
        "L_decision": "approve"})
    assert response.status_code == 302
    with app.app_context():
        right = session().scalar(select(EyeResult).where(EyeResult.laterality == "R"))
        assert right is not None
        assert [r.decision.value for r in right.reviews] == ["approve", "correct"]
        assert right.effective_finding.grade == 1 and right.grade == 2
    order = load_order(app, graded.order_id)
    assert order.state.value == "reviewed"
    assert [t.to_state.value for t in order.transitions].count("reviewed") == 1


def test_bad_reviews_change_nothing(app: Flask, auth: AuthActions, graded: Seeded) -> None:
    auth.login("ophthalmologist")
    cases = [
        ({"R_decision": "approve"}, "This field is required"),
        ({"R_decision": "correct", "R_grade": "", "L_decision": "approve"},
         "choose the corrected grade"),
        ({"R_decision": "correct", "R_grade": "2", "R_maculopathy": "unknown",
          "R_comment": "same", "L_decision": "approve"}, "approve instead"),
        ({"R_decision": "correct", "R_grade": "2", "R_comment": "maculopathy kept",
          "L_decision": "approve"}, "approve instead"),  # maculopathy left as the AI found
        ({"R_decision": "correct", "R_grade": "4", "L_decision": "approve"},
         "say why the finding is corrected"),
        ({"R_decision": "correct", "R_grade": "9", "L_decision": "approve"}, "not a grade"),
    ]
    for data, message in cases:
        response = auth.post(f"/orders/{graded.order_id}/review", data)
        assert response.status_code == 422, data
        assert message in response.text, message
    with app.app_context():
        assert session().scalars(select(Review)).all() == []
    assert load_order(app, graded.order_id).state.value == "ai_done"


def test_only_ophthalmologists_review(app: Flask, auth: AuthActions, graded: Seeded) -> None:
    auth.login("nurse")
    assert auth.post(f"/orders/{graded.order_id}/review", approve_both()).status_code == 403
    assert load_order(app, graded.order_id).state.value == "ai_done"


def test_review_of_an_order_without_a_result(app: Flask, auth: AuthActions) -> None:
    order_id = add_order(app, add_patient(app))
    auth.login("ophthalmologist")
    assert auth.post(f"/orders/{order_id}/review", approve_both()).status_code == 404


def test_review_queue_lists_orders_awaiting_review(app: Flask, auth: AuthActions,
                                                   graded: Seeded) -> None:
    auth.login("ophthalmologist")
    accession = load_order(app, graded.order_id).accession_number
    assert accession in auth.client.get("/reviews").text
    auth.post(f"/orders/{graded.order_id}/review", approve_both())
    assert accession not in auth.client.get("/reviews").text


def read_csv(response: object) -> list[dict[str, str]]:
    text = response.get_data(as_text=True)  # type: ignore[attr-defined]
    return list(csv.DictReader(io.StringIO(text)))


def test_label_export(app: Flask, client: FlaskClient, auth: AuthActions) -> None:
    patient_id = add_patient(app)
    corrected = graded_order(app, client, patient_id, right=2, left=0)
    approved = graded_order(app, client, patient_id, right=1, left=1)
    graded_order(app, client, patient_id)  # never reviewed: no labels
    auth.login("ophthalmologist")
    auth.post(f"/orders/{corrected}/review", {
        "R_decision": "correct", "R_grade": "ungradable", "R_comment": "Media opacity",
        "L_decision": "approve"})
    auth.post(f"/orders/{approved}/review", approve_both())
    response = auth.client.get("/labels.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = read_csv(response)
    assert tuple(rows[0]) == LABEL_COLUMNS
    assert len(rows) == 8  # two orders, two eyes, two images each
    order = load_order(app, corrected)
    with app.app_context():
        eye = session().scalar(select(EyeResult).where(
            EyeResult.laterality == "R", EyeResult.result_id == order.results[0].id))
        assert eye is not None
        sources = eye.source_sop_instance_uids
    right = [r for r in rows if r["sop_instance_uid"] in sources]
    assert len(right) == 2
    assert right[0]["label_grade"] == "ungradable" and right[0]["label_source"] == "corrected"
    assert right[0]["ai_grade"] == "2" and right[0]["study_instance_uid"] == \
        order.study_instance_uid
    text = response.get_data(as_text=True)
    assert "MRN001" not in text and "Doe" not in text and "Media opacity" not in text
    only = read_csv(auth.client.get("/labels.csv?corrections=1"))
    assert {r["label_source"] for r in only} == {"corrected"} and len(only) == 2
    assert read_csv(auth.client.get("/labels.csv?since=2999-01-01")) == []
    with app.app_context():
        exports = session().scalars(select(AuditEntry).where(
            AuditEntry.action == "labels.export")).all()
    assert len(exports) == 3  # one entry per download


def test_a_simulated_photograph_gives_no_training_label(app: Flask, client: FlaskClient,
                                                        auth: AuthActions) -> None:
    """A synthetic picture is no photograph of the eye an ophthalmologist signs off."""
    order_id = add_order(app, add_patient(app))
    move(client, order_id, *TO_AI_RUNNING)
    eyes = two_photograph_eyes()
    eyes[0]["images"][0]["simulated"] = True
    assert post(client, order_id, result_body(eyes=eyes)).status_code == 201
    auth.login("ophthalmologist")
    auth.post(f"/orders/{order_id}/review", approve_both())
    labelled = [r["sop_instance_uid"] for r in read_csv(auth.client.get("/labels.csv"))]
    simulated, real = (eyes[0]["images"][0]["sop_instance_uid"],
                       eyes[0]["images"][1]["sop_instance_uid"])
    assert real in labelled and simulated not in labelled
    assert len(labelled) == 2  # the right eye's real photograph, the left eye's one


def test_a_formula_in_an_exported_cell_stays_text(app: Flask, client: FlaskClient,
                                                  auth: AuthActions) -> None:
    """A model name the AI node sends is text to a spreadsheet, never a live formula."""
    order_id = add_order(app, add_patient(app))
    move(client, order_id, *TO_AI_RUNNING)
    body = result_body()
    body["model"]["name"] = '=HYPERLINK("http://example.invalid","open")'
    assert post(client, order_id, body).status_code == 201
    auth.login("ophthalmologist")
    auth.post(f"/orders/{order_id}/review", approve_both())
    rows = read_csv(auth.client.get("/labels.csv"))
    assert rows and {r["model_name"] for r in rows} == {
        '\'=HYPERLINK("http://example.invalid","open")'}
