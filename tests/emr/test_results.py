"""AI results over the API: validation, idempotent posting, newer model versions, heat maps."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import func, select

from emr.database import session
from emr.models import AiResult, EyeImage, EyeResult
from imaging_common.uids import new_uid

from .conftest import (TO_AI_RUNNING, AuthActions, Seeded, add_order, add_patient, bearer,
                       eye_body, load_order, move, result_body)


def post(client: FlaskClient, order_id: int, body: dict[str, Any]) -> Any:
    return client.post(f"/api/v1/orders/{order_id}/results", json=body, headers=bearer("ai"))


def count_results(app: Flask) -> int:
    with app.app_context():
        return int(session().scalar(select(func.count(AiResult.id))) or 0)


def png() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_a_result_is_stored_and_moves_the_order_to_ai_done(app: Flask,
                                                           client: FlaskClient) -> None:
    order_id = add_order(app, add_patient(app))
    move(client, order_id, *TO_AI_RUNNING)
    body = result_body(right=2, left=0)
    response = post(client, order_id, body)
    assert response.status_code == 201
    assert response.headers["Location"].endswith(f"/api/v1/orders/{order_id}/results")
    stored = response.json
    assert stored["model"] == {"name": "fovea-effnet", "version": "1.0.0"}
    assert stored["sr_sop_instance_uid"] == body["sr_sop_instance_uid"]
    right, left = stored["eyes"]
    assert (right["laterality"], right["grade"], right["referable"]) == ("R", 2, True)
    assert (left["laterality"], left["grade"], left["referable"]) == ("L", 0, False)
    assert right["grade_label"] == "Moderate non-proliferative diabetic retinopathy"
    order = load_order(app, order_id)
    assert order.state.value == "ai_done"
    assert (order.transitions[-1].to_state.value, order.transitions[-1].service) == ("ai_done",
                                                                                     "ai")


def test_the_same_result_twice_is_stored_once(app: Flask, client: FlaskClient) -> None:
    order_id = add_order(app, add_patient(app))
    move(client, order_id, *TO_AI_RUNNING)
    body = result_body(right=1, left=1)
    first = post(client, order_id, body)
    second = post(client, order_id, dict(reversed(list(body.items()))))  # key order is no matter
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json["id"] == second.json["id"]
    assert count_results(app) == 1
    assert [t.to_state.value for t in load_order(app, order_id).transitions].count("ai_done") == 1


def test_a_different_result_under_the_same_version_conflicts(app: Flask,
                                                             client: FlaskClient) -> None:
    order_id = add_order(app, add_patient(app))
    move(client, order_id, *TO_AI_RUNNING)
    assert post(client, order_id, result_body(right=0, left=0)).status_code == 201
    changed = post(client, order_id, result_body(right=3, left=0))
    assert changed.status_code == 409
    assert "already posted a different result" in changed.json["error"]["message"]
    assert count_results(app) == 1


def test_a_newer_model_version_adds_a_result(app: Flask, client: FlaskClient,
                                             auth: AuthActions) -> None:
    order_id = add_order(app, add_patient(app))
    move(client, order_id, *TO_AI_RUNNING)
    assert post(client, order_id, result_body(right=1, left=0, version="1.0.0")).status_code == 201
    too_early = post(client, order_id, result_body(right=2, left=0, version="1.1.0"))
    assert too_early.status_code == 409  # the order must be queued and running again
    move(client, order_id, "ai_queued", "ai_running")
    newer = post(client, order_id, result_body(right=2, left=0, version="1.1.0"))
    assert newer.status_code == 201
    listed = client.get(f"/api/v1/orders/{order_id}/results", headers=bearer("reader")).json
    assert [r["model"]["version"] for r in listed["results"]] == ["1.0.0", "1.1.0"]
    auth.login("nurse")
    report = auth.client.get(f"/orders/{order_id}/report").text
    assert "fovea-effnet 1.1.0" in report
    assert "Earlier results for this order" in report and "fovea-effnet 1.0.0" in report


def test_a_result_needs_the_order_to_be_running(app: Flask, client: FlaskClient) -> None:
    order_id = add_order(app, add_patient(app))
    move(client, order_id, "in_progress", "acquired")
    response = post(client, order_id, result_body())
    assert response.status_code == 409 and "ai_running" in response.json["error"]["message"]
    assert count_results(app) == 0


def ungradable_with_grade() -> dict[str, Any]:
    eye = eye_body("R", 1)
    eye["image_quality"] = "ungradable"
    return result_body(eyes=[eye, eye_body("L", 0)])


@pytest.mark.parametrize(("body", "field"), [
    (result_body(eyes=[eye_body("R", 0, probabilities=[0.5, 0.5, 0.5, 0, 0]),
                       eye_body("L", 0)]), "eyes[0].probabilities"),
    (result_body(eyes=[eye_body("R", 0, probabilities=[1.0]), eye_body("L", 0)]),
     "eyes[0].probabilities"),
    (ungradable_with_grade(), "eyes[0].grade"),
    (result_body(eyes=[{**eye_body("R", 4), "grade": 7}, eye_body("L", 0)]), "eyes[0].grade"),
    (result_body(eyes=[eye_body("R", 0, referable=None), eye_body("L", 0)]),
     "eyes[0].referable"),  # a graded eye carries the node's decision
    (result_body(eyes=[eye_body("R", 0, referral_threshold=None), eye_body("L", 0)]),
     "eyes[0].referral_threshold"),
    (result_body(eyes=[eye_body("R", 0, borderline="maybe"), eye_body("L", 0)]),
     "eyes[0].borderline"),
    (result_body(eyes=[eye_body("R", None, probabilities=[0.2] * 5), eye_body("L", 0)]),
     "eyes[0].probabilities"),  # an ungradable eye was not graded
    (result_body(eyes=[eye_body("R", None, referable=False), eye_body("L", 0)]),
     "eyes[0].referable"),  # ... and its referral is unknown, not "no"
    (result_body(eyes=[eye_body("R", None, quality_reasons=[]), eye_body("L", 0)]),
     "eyes[0].quality_reasons"),
    (result_body(eyes=[eye_body("R", 1, maculopathy=True, dme_probability=None),
                       eye_body("L", 0)]), "eyes[0].maculopathy"),
    (result_body(eyes=[eye_body("R", 1, quality={"sharpness": 3}), eye_body("L", 0)]),
     "eyes[0].quality"),
    (result_body(eyes=[{**eye_body("R", 0), "laterality": "X"}, eye_body("L", 0)]),
     "eyes[0].laterality"),
    (result_body(eyes=[eye_body("R", 0), eye_body("R", 0)]), "eyes"),
    (result_body(eyes=[eye_body("R", 0, source_sop_instance_uids=["1.2.x"]),
                       eye_body("L", 0)]), "eyes[0].source_sop_instance_uids"),
    (result_body(eyes=[eye_body("R", 0, heatmap_png="bm90IGFuIGltYWdl"), eye_body("L", 0)]),
     "eyes[0].heatmap_png"),
    # what a schema fuzzer sent, and got a 500 for
    (result_body(eyes=[{**eye_body("R", 0), "image_quality": {"good": True}},
                       eye_body("L", 0)]), "eyes[0].image_quality"),
    (result_body(eyes=[eye_body("R", 0, heatmap_png="iVBORw0KGgoé"), eye_body("L", 0)]),
     "eyes[0].heatmap_png"),
    (result_body(eyes=[eye_body("R", 0, sc_sop_instance_uid="1.2.x"), eye_body("L", 0)]),
     "eyes[0].sc_sop_instance_uid"),
    (result_body(eyes=[eye_body("R", 0), eye_body("L", 0, sc_sop_instance_uid=7)]),
     "eyes[1].sc_sop_instance_uid"),
    (result_body(eyes=[eye_body("R", 0, sc_sop_instance_uid="1.2.3"),
                       eye_body("L", 0, sc_sop_instance_uid="1.2.3")]), "eyes"),
    ({**result_body(), "sc_sop_instance_uid": None}, "sc_sop_instance_uid"),
    ({**result_body(), "sr_sop_instance_uid": "not-a-uid"}, "sr_sop_instance_uid"),
    ({**result_body(), "performed_at": "2026-03-01T10:15:00"}, "performed_at"),
    ({**result_body(), "model": {"name": "m"}}, "version"),
])
def test_invalid_results_are_422_and_store_nothing(app: Flask, client: FlaskClient,
                                                   body: dict[str, Any], field: str) -> None:
    order_id = add_order(app, add_patient(app))
    move(client, order_id, *TO_AI_RUNNING)
    response = post(client, order_id, body)
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["fields"]
    assert count_results(app) == 0
    assert load_order(app, order_id).state.value == "ai_running"


def test_a_result_must_grade_the_ordered_eyes(app: Flask, client: FlaskClient) -> None:
    order_id = add_order(app, add_patient(app), laterality="right")
    move(client, order_id, *TO_AI_RUNNING)
    both = post(client, order_id, result_body())
    assert both.status_code == 422 and "the order covers R" in both.json["error"]["message"]
    right_only = post(client, order_id, result_body(eyes=[eye_body("R", 0)]))
    assert right_only.status_code == 201


def test_heat_maps_are_kept_and_served_to_report_readers(app: Flask, client: FlaskClient,
                                                         auth: AuthActions) -> None:
    order_id = add_order(app, add_patient(app))
    move(client, order_id, *TO_AI_RUNNING)
    body = result_body(eyes=[eye_body("R", 2, heatmap_png=png()), eye_body("L", 0)])
    result_id = post(client, order_id, body).json["id"]
    with app.app_context():
        stored = session().scalar(select(EyeResult).where(EyeResult.laterality == "R"))
        assert stored is not None and stored.heatmap_media_type == "image/png"
    auth.login("nurse")
    image = auth.client.get(f"/orders/{order_id}/results/{result_id}/heatmap/R.png")
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert image.data == base64.b64decode(body["eyes"][0]["heatmap_png"])
    assert auth.client.get(f"/orders/{order_id}/results/{result_id}/heatmap/L.png"
                           ).status_code == 404
    report = auth.client.get(f"/orders/{order_id}/report").text
    assert f"/orders/{order_id}/results/{result_id}/heatmap/R.png" in report


def per_eye_captures() -> dict[str, Any]:
    """A result whose AI node wrote one Secondary Capture per eye."""
    right_sc, left_sc = str(new_uid()), str(new_uid())
    return {**result_body(eyes=[eye_body("R", 2, sc_sop_instance_uid=right_sc),
                                eye_body("L", 0, sc_sop_instance_uid=left_sc)]),
            "sc_sop_instance_uid": right_sc}


def test_each_eye_keeps_its_own_secondary_capture(app: Flask, client: FlaskClient,
                                                  auth: AuthActions) -> None:
    order_id = add_order(app, add_patient(app))
    move(client, order_id, *TO_AI_RUNNING)
    body = per_eye_captures()
    right_sc, left_sc = (eye["sc_sop_instance_uid"] for eye in body["eyes"])
    created = post(client, order_id, body)
    assert created.status_code == 201, created.json
    assert [e["sc_sop_instance_uid"] for e in created.json["eyes"]] == [right_sc, left_sc]
    assert created.json["sc_sop_instance_uid"] == right_sc
    listed = client.get(f"/api/v1/orders/{order_id}/results", headers=bearer("reader")).json
    listed_eyes = listed["results"][0]["eyes"]
    assert [e["sc_sop_instance_uid"] for e in listed_eyes] == [right_sc, left_sc]
    with app.app_context():
        stored = session().scalars(select(EyeResult).order_by(EyeResult.laterality)).all()
        assert {e.laterality: e.sc_sop_instance_uid for e in stored} == {"R": right_sc,
                                                                         "L": left_sc}
    auth.login("nurse")
    report = auth.client.get(f"/orders/{order_id}/report").text
    assert f'<code class="eye-sc">{right_sc}</code>' in report
    assert f'<code class="eye-sc">{left_sc}</code>' in report


def test_an_eye_without_its_own_capture_is_null(app: Flask, client: FlaskClient,
                                                auth: AuthActions) -> None:
    order_id = add_order(app, add_patient(app))
    move(client, order_id, *TO_AI_RUNNING)
    body = result_body(eyes=[eye_body("R", 0, sc_sop_instance_uid=None), eye_body("L", 0)])
    created = post(client, order_id, body)
    assert created.status_code == 201, created.json
    assert [e["sc_sop_instance_uid"] for e in created.json["eyes"]] == [None, None]
    auth.login("nurse")
    report = auth.client.get(f"/orders/{order_id}/report").text
    assert 'class="eye-sc"' not in report
    assert f"SC <code>{body['sc_sop_instance_uid']}</code>" in report


def test_the_idempotency_digest_covers_each_eyes_capture(app: Flask,
                                                         client: FlaskClient) -> None:
    order_id = add_order(app, add_patient(app))
    move(client, order_id, *TO_AI_RUNNING)
    body = per_eye_captures()
    assert post(client, order_id, body).status_code == 201
    assert post(client, order_id, body).status_code == 200
    changed = {**body, "eyes": [{**body["eyes"][0], "sc_sop_instance_uid": str(new_uid())},
                                body["eyes"][1]]}
    assert post(client, order_id, changed).status_code == 409
    dropped = {**body, "eyes": [{k: v for k, v in body["eyes"][0].items()
                                 if k != "sc_sop_instance_uid"}, body["eyes"][1]]}
    assert post(client, order_id, dropped).status_code == 409
    assert count_results(app) == 1


def test_graded_fixture_has_one_result(app: Flask, graded: Seeded) -> None:
    assert count_results(app) == 1


ISSUE_VECTOR = [0.29, 0.26, 0.21, 0.14, 0.10]


def photograph_entry(uid: str, decisive: bool, grade: int | None,
                     **extra: Any) -> dict[str, Any]:
    """One photograph of an eye as the AI node posts it."""
    if grade is None:
        entry: dict[str, Any] = {
            "sop_instance_uid": uid, "decisive": decisive, "grade": None,
            "image_quality": "ungradable", "quality_reasons": ["focus", "under-illumination"],
            "quality": {"field": 0.7, "brightness": 12.0, "overexposed": 0.0,
                        "underexposed": 0.6, "focus": 0.8}, "photograph_png": png()}
    else:
        body = eye_body("R", grade)
        entry = {"sop_instance_uid": uid, "decisive": decisive, "heatmap_png": png(),
                 **{k: body[k] for k in ("grade", "probabilities", "referable",
                                         "referable_probability", "borderline",
                                         "dme_probability", "maculopathy", "image_quality")},
                 "quality": {"field": 0.8, "brightness": 100.0, "overexposed": 0.0,
                             "underexposed": 0.01, "focus": 12.5}}
    entry["sc_sop_instance_uid"] = str(new_uid())
    entry.update(extra)
    return entry


def two_photograph_eyes() -> list[dict[str, Any]]:
    """A right eye of two photographs (the second decides, by the issue's vector, borderline
    referable at grade 0) and an ungradable left eye."""
    first, second, left_uid = str(new_uid()), str(new_uid()), str(new_uid())
    deciding = photograph_entry(second, True, 0, probabilities=ISSUE_VECTOR, referable=True,
                                referable_probability=0.45, borderline=True)
    right = {**eye_body("R", 0), **{k: deciding[k] for k in (
        "grade", "probabilities", "referable", "referable_probability", "borderline")},
        "source_sop_instance_uids": [first, second], "decisive_sop_instance_uid": second,
        "sc_sop_instance_uid": deciding["sc_sop_instance_uid"],
        "images": [photograph_entry(first, False, 1), deciding]}
    ungradable = photograph_entry(left_uid, True, None,
                                  laterality_doubt="the optic disc lies right of the macula")
    left = {**eye_body("L", None, quality_reasons=["focus", "under-illumination"]),
            "quality": ungradable["quality"],
            "source_sop_instance_uids": [left_uid], "decisive_sop_instance_uid": left_uid,
            "sc_sop_instance_uid": ungradable["sc_sop_instance_uid"], "images": [ungradable]}
    return [right, left]


def test_every_photograph_is_stored_with_its_own_grade_and_picture(
        app: Flask, client: FlaskClient, auth: AuthActions) -> None:
    order_id = add_order(app, add_patient(app))
    move(client, order_id, *TO_AI_RUNNING)
    eyes = two_photograph_eyes()
    created = post(client, order_id, result_body(eyes=eyes))
    assert created.status_code == 201, created.json
    right, left = created.json["eyes"]
    assert [(i["grade"], i["decisive"]) for i in right["images"]] == [(1, False), (0, True)]
    assert (right["referable"], right["borderline"], right["referral_threshold"]) == (
        True, True, 0.4403)
    assert right["has_heatmap"]  # the deciding photograph's
    assert (left["referable"], left["probabilities"], left["quality_reasons"]) == (
        None, None, ["focus", "under-illumination"])
    assert left["quality"]["focus"] == 0.8 and not left["has_heatmap"]
    assert left["images"][0]["laterality_doubt"] == "the optic disc lies right of the macula"
    with app.app_context():
        stored = session().scalars(select(EyeImage).order_by(EyeImage.id)).all()
        assert [(i.grade, i.decisive, i.picture_media_type) for i in stored] == [
            (1, False, "image/png"), (0, True, "image/png"), (None, True, "image/png")]
        picture_ids = [i.id for i in stored]
    auth.login("nurse")
    result_id = created.json["id"]
    for image_id in picture_ids:
        picture = auth.client.get(f"/orders/{order_id}/results/{result_id}/images/{image_id}.png")
        assert picture.status_code == 200 and picture.mimetype == "image/png"
    assert auth.client.get(f"/orders/{order_id}/results/{result_id}/images/999.png"
                           ).status_code == 404


def test_the_report_shows_the_nodes_decision_and_never_the_top_grades(
        app: Flask, client: FlaskClient, auth: AuthActions) -> None:
    """Issue 15: top grade "no DR" at (0.29, 0.26, 0.21, 0.14, 0.10) is referable by the node."""
    order_id = add_order(app, add_patient(app))
    move(client, order_id, *TO_AI_RUNNING)
    assert post(client, order_id, result_body(eyes=two_photograph_eyes())).status_code == 201
    auth.login("nurse")
    page = auth.client.get(f"/orders/{order_id}/report").text
    for text in ('referable: <strong class="referable">yes (borderline)</strong>',
                 "Refer to an ophthalmologist within 3 months",
                 "0.45\n      against the threshold 0.44",
                 '<strong class="borderline">borderline</strong>: within ±0.05 of the threshold',
                 "left eye could not be graded",
                 "ungradable: re-image</strong> (reason: focus, under-illumination)",
                 "not assessed by this model",
                 "Photographs (2)", "(decides the eye)", "Mild non-proliferative",
                 "Left eye (OS): laterality doubt: the optic disc lies right of the macula",
                 "Laterality doubt: the optic disc lies right of the macula",
                 "focus 0.8", "under-exposed 60.0%"):
        assert text in page, text
    assert "Re-screen" not in page.split("How the recommendation is made")[0]
    assert page.count("Ungradable photograph, Left eye (OS)") == 1
    assert page.count("Heat map of the regions that drove the AI grade") == 2


@pytest.mark.parametrize(("change", "field"), [
    (lambda eyes: eyes[0]["images"][0].update(decisive=True), "eyes[0].decisive_sop_instance_uid"),
    (lambda eyes: eyes[0]["images"][1].update(grade=2, referable=True),
     "eyes[0].grade"),  # the eye's finding is its deciding photograph's
    (lambda eyes: eyes[0]["images"].pop(0), "eyes[0].images"),
    (lambda eyes: eyes[0]["images"].extend(eyes[0]["images"] * 3), "eyes[0].images"),  # 8 > 6
    (lambda eyes: eyes[1]["images"][0].update(heatmap_png=png()), "eyes[1].images[0].heatmap_png"),
    (lambda eyes: eyes[1]["images"][0].update(referable=False), "eyes[1].images[0].referable"),
    (lambda eyes: eyes[0]["images"][0].update(laterality_doubt=7),
     "eyes[0].images[0].laterality_doubt"),
    (lambda eyes: eyes[1]["images"][0].update(simulated="yes"), "eyes[1].images[0].simulated"),
    (lambda eyes: eyes[1]["images"][0].update(simulated=None), "eyes[1].images[0].simulated"),
])
def test_inconsistent_photographs_are_refused(app: Flask, client: FlaskClient,
                                              change: Any, field: str) -> None:
    order_id = add_order(app, add_patient(app))
    move(client, order_id, *TO_AI_RUNNING)
    eyes = two_photograph_eyes()
    change(eyes)
    response = post(client, order_id, result_body(eyes=eyes))
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["fields"], response.json
    assert count_results(app) == 0


BADGE = "Simulated image — not a photograph of this patient"


def test_a_simulated_photograph_is_stored_and_marked_on_the_report_and_the_queue(
        app: Flask, client: FlaskClient, auth: AuthActions) -> None:
    """The right eye's first photograph is a simulated capture; the others say nothing (false)."""
    patient_id = add_patient(app)
    order_id = add_order(app, patient_id)
    move(client, order_id, *TO_AI_RUNNING)
    eyes = two_photograph_eyes()
    eyes[0]["images"][0]["simulated"] = True
    eyes[0]["images"][1]["simulated"] = False
    created = post(client, order_id, result_body(eyes=eyes))
    assert created.status_code == 201, created.json
    right, left = created.json["eyes"]
    assert [i["simulated"] for i in right["images"] + left["images"]] == [True, False, False]
    with app.app_context():
        stored = session().scalars(select(EyeImage).order_by(EyeImage.id)).all()
        assert [i.simulated for i in stored] == [True, False, False]
    auth.login("nurse")
    page = auth.client.get(f"/orders/{order_id}/report").text
    banner = page.split('class="simulated-banner"')[1].split("</div>")[0]
    assert "Simulated images — not photographs of this patient." in banner
    assert "Right eye (OD): 1 of 2 photographs simulated." in banner
    assert "Left eye" not in banner
    assert page.index("simulated-banner") < page.index('class="summary"')  # at the top
    assert page.count(BADGE) == 1
    figure = page.split("Photograph 2")[0].split('<figure class="photograph')[-1]
    assert BADGE in figure  # the further photograph, shown after the deciding one
    assert "(simulated image, not a photograph of this patient)" in figure
    history = auth.client.get(f"/patients/{patient_id}").text
    assert '<strong class="badge simulated">Simulated images</strong>' in history
    auth.logout()
    auth.login("ophthalmologist")
    review = auth.client.get(f"/orders/{order_id}/report").text
    fieldset = review.split("<legend>Right eye (OD)")[1].split("</fieldset>")[0]
    assert BADGE in fieldset and "1 of 2 photographs of this eye" in fieldset
    assert BADGE not in review.split("<legend>Left eye (OS)")[1].split("</fieldset>")[0]
    queue = auth.client.get("/reviews").text
    assert "Simulated images — not photographs of this patient" in queue


def test_a_result_without_simulated_photographs_shows_no_banner(
        app: Flask, client: FlaskClient, auth: AuthActions) -> None:
    order_id = add_order(app, add_patient(app))
    move(client, order_id, *TO_AI_RUNNING)
    created = post(client, order_id, result_body(eyes=two_photograph_eyes()))
    assert created.status_code == 201, created.json
    assert not any(i["simulated"] for e in created.json["eyes"] for i in e["images"])
    auth.login("ophthalmologist")
    for page in (auth.client.get(f"/orders/{order_id}/report").text,
                 auth.client.get("/reviews").text):
        assert "simulated-banner" not in page and "badge simulated" not in page
