"""Nothing that identifies a patient goes into the logs, whatever the pages and API do."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from structlog.testing import capture_logs

from .conftest import TO_AI_RUNNING, AuthActions, bearer, move, result_body

SECRETS = ("Xanthippe", "Quixotic", "MRN-SECRET-42", "1937-02-03", "19370203")


def test_a_whole_workflow_logs_no_patient_data(app: Flask, client: FlaskClient,
                                               auth: AuthActions) -> None:
    with capture_logs() as events:
        auth.login("nurse")
        response = auth.post("/patients/new", {
            "mrn": "MRN-SECRET-42", "family_name": "Quixotic", "given_name": "Xanthippe",
            "birth_date": "1937-02-03", "sex": "F"})
        patient_url = response.headers["Location"]
        auth.client.get(patient_url)
        auth.client.get("/patients?name=Quixotic&mrn=MRN-SECRET-42&birth_date=1937-02-03")
        patient_id = int(patient_url.rsplit("/", 1)[1])
        from datetime import datetime, timedelta
        when = (datetime.now() + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
        created = auth.post(f"/patients/{patient_id}/orders/new", {
            "laterality": "both", "priority": "ROUTINE", "station_ae": "FUNDUS_CAM1",
            "scheduled_at": when})
        order_id = int(created.headers["Location"].rsplit("/", 1)[1])
        client.get("/api/v1/orders", headers=bearer("worklist"))
        move(client, order_id, *TO_AI_RUNNING)
        client.post(f"/api/v1/orders/{order_id}/results", json=result_body(),
                    headers=bearer("ai"))
        auth.client.get(f"/orders/{order_id}/report")
    assert events, "the flow should have logged something"
    logged = repr(events)
    for secret in SECRETS:
        assert secret not in logged
    assert any(e.get("event") == "request" for e in events)
