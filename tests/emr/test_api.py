"""The REST API's contract: tokens and scopes, filters, state changes, JSON errors, OpenAPI."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient

from emr.models import utcnow
from emr.openapi import openapi_document

from .conftest import add_order, add_patient, bearer, load_order, move


def error_of(response: object) -> dict[str, object]:
    body = response.json  # type: ignore[attr-defined]
    assert isinstance(body, dict) and set(body) == {"error"}
    return body["error"]  # type: ignore[no-any-return]


def test_a_token_is_required(client: FlaskClient) -> None:
    missing = client.get("/api/v1/orders")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert error_of(missing)["code"] == "unauthorized"
    wrong = client.get("/api/v1/orders", headers={"Authorization": "Bearer not-a-token"})
    assert wrong.status_code == 401
    assert 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
    basic = client.get("/api/v1/orders", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401


def test_scopes_are_enforced(app: Flask, client: FlaskClient) -> None:
    order_id = add_order(app, add_patient(app))
    assert client.get("/api/v1/orders", headers=bearer("reader")).status_code == 200
    refused = client.post(f"/api/v1/orders/{order_id}/transitions", json={"state": "in_progress"},
                          headers=bearer("reader"))
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
    assert "orders:state" in str(error_of(refused)["message"])
    result = client.post(f"/api/v1/orders/{order_id}/results", json={},
                         headers=bearer("worklist"))
    assert result.status_code == 403
    assert load_order(app, order_id).state.value == "scheduled"


def test_patient_demographics_only_with_their_scope(app: Flask, client: FlaskClient) -> None:
    order_id = add_order(app, add_patient(app, mrn="MRN-9", family="Doe", given="Jane"))
    with_patient = client.get(f"/api/v1/orders/{order_id}", headers=bearer("worklist")).json
    assert with_patient["patient"] == {"patient_id": "MRN-9", "patient_name": "Doe^Jane",
                                       "birth_date": "1961-04-12", "sex": "F"}
    without = client.get(f"/api/v1/orders/{order_id}", headers=bearer("ai")).json
    assert "patient" not in without
    assert without["transitions"][0]["to"] == "scheduled"
    assert without["results"] == []


def test_list_filters_by_state_date_and_station(app: Flask, client: FlaskClient) -> None:
    patient_id = add_patient(app)
    now = utcnow()
    today = add_order(app, patient_id, scheduled_at=now + timedelta(minutes=30))
    later = add_order(app, patient_id, scheduled_at=now + timedelta(days=3),
                      station="FUNDUS_CAM2")
    move(client, later, "in_progress")

    def ids(query: str) -> list[int]:
        response = client.get(f"/api/v1/orders?{query}", headers=bearer("worklist"))
        assert response.status_code == 200, response.json
        return [o["id"] for o in response.json["orders"]]
    day = (now + timedelta(minutes=30)).date().isoformat()
    assert ids("") == [today, later]
    assert ids("state=scheduled") == [today]
    assert ids("state=scheduled,in_progress") == [today, later]
    assert ids("state=scheduled&state=in_progress") == [today, later]
    assert ids("station=FUNDUS_CAM2") == [later]
    assert ids(f"date={day}") == [today]
    assert ids(f"date_from={(now + timedelta(days=2)).date()}") == [later]
    accession = load_order(app, later).accession_number
    assert ids(f"accession_number={accession}") == [later]
    assert ids("limit=1") == [today] and ids("limit=1&offset=1") == [later]


def test_bad_queries_are_422_with_the_fields(client: FlaskClient) -> None:
    response = client.get("/api/v1/orders?state=lost&date=yesterday", headers=bearer("reader"))
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {"state", "date"}  # type: ignore[arg-type]


def test_change_state_validated(app: Flask, client: FlaskClient) -> None:
    order_id = add_order(app, add_patient(app))
    url = f"/api/v1/orders/{order_id}/transitions"
    made = client.post(url, json={"state": "in_progress"}, headers=bearer("worklist"))
    assert made.status_code == 201
    assert made.json["order"]["state"] == "in_progress"
    assert made.json["transition"]["by"] == {"service": "worklist"}
    repeat = client.post(url, json={"state": "in_progress"}, headers=bearer("worklist"))
    assert repeat.status_code == 200 and repeat.json["transition"] is None
    refused = client.post(url, json={"state": "reviewed"}, headers=bearer("worklist"))
    assert refused.status_code == 409
    assert error_of(refused)["code"] == "invalid_transition"
    unknown = client.post(url, json={"state": "teleported"}, headers=bearer("worklist"))
    assert unknown.status_code == 422
    no_reason = client.post(url, json={"state": "failed"}, headers=bearer("worklist"))
    assert no_reason.status_code == 409 and "needs a reason" in str(error_of(no_reason)["message"])
    failed = client.post(url, json={"state": "failed", "reason": "camera offline"},
                         headers=bearer("worklist"))
    assert failed.status_code == 201 and failed.json["order"]["state_reason"] == "camera offline"
    assert [t.to_state.value for t in load_order(app, order_id).transitions] == [
        "scheduled", "in_progress", "failed"]


def test_malformed_requests_get_json_errors(app: Flask, client: FlaskClient) -> None:
    order_id = add_order(app, add_patient(app))
    not_json = client.post(f"/api/v1/orders/{order_id}/transitions", data="state=x",
                           headers=bearer("worklist"))
    assert not_json.status_code == 400 and error_of(not_json)["code"] == "bad_request"
    wrong_type = client.post(f"/api/v1/orders/{order_id}/transitions", json={"state": 3},
                             headers=bearer("worklist"))
    assert wrong_type.status_code == 422
    missing = client.get("/api/v1/orders/999999", headers=bearer("reader"))
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    nowhere = client.get("/api/v1/no-such-thing", headers=bearer("reader"))
    assert nowhere.status_code == 404 and nowhere.is_json
    method = client.delete("/api/v1/orders", headers=bearer("reader"))
    assert method.status_code == 405 and "GET" in method.headers["Allow"]
    assert error_of(method)["code"] == "method_not_allowed"
    huge = client.post(f"/api/v1/orders/{order_id}/results", data=b"x" * (8 * 1024 * 1024),
                       content_type="application/json", headers=bearer("ai"))
    assert huge.status_code == 413 and error_of(huge)["code"] == "request_entity_too_large"


def test_api_needs_no_csrf_and_sets_no_cookie(app: Flask, client: FlaskClient) -> None:
    order_id = add_order(app, add_patient(app))
    response = client.post(f"/api/v1/orders/{order_id}/transitions",
                           json={"state": "in_progress"}, headers=bearer("worklist"))
    assert response.status_code == 201
    assert "Set-Cookie" not in response.headers


def test_openapi_is_served_and_describes_every_route(app: Flask, client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json
    assert document["openapi"].startswith("3.1")
    assert document == openapi_document()
    routes = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = rule.rule.removeprefix("/api/v1").replace("<int:order_id>", "{order_id}")
            routes.setdefault(path, set()).update(
                m.lower() for m in rule.methods or () if m not in {"HEAD", "OPTIONS"})
    documented = {path: set(item) for path, item in document["paths"].items()}
    assert documented == routes
    for path, item in document["paths"].items():
        for operation in item.values():
            for reference in _references(operation):
                assert reference.removeprefix("#/components/schemas/") in \
                    document["components"]["schemas"], (path, reference)


def _references(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [r for value in node.values() for r in _references(value)]
    if isinstance(node, list):
        return [r for value in node for r in _references(value)]
    return []
