"""The station's /metrics: its requests by endpoint, acquisitions, and images sent
to the archive (failed while it is down, then stored and committed)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask

from modality_scu import StationConfig
from modality_scu.models import ImageState, utcnow
from tests.scrape import Samples, parse, value

from .conftest import (
    AuthActions,
    Order,
    context,
    load_examination,
    running_pacs,
    started_examination,
    station_config,
)

SENT = "fovea_station_images_sent_total"


@pytest.fixture
def config(network: Path, tmp_path: Path) -> StationConfig:
    """In demo mode: the acquisition below is a simulated capture."""
    return station_config(network, tmp_path / "station", FOVEA_DEMO="1")


def _scrape(app: Flask) -> Samples:
    response = app.test_client().get("/metrics")  # no log-in
    assert response.status_code == 200 and response.mimetype == "text/plain"
    return parse(response.text)


def test_acquisitions_and_deliveries_are_counted(app: Flask, network: Path,
                                                 ports: dict[str, int], tmp_path: Path) -> None:
    before = _scrape(app)
    order = Order(accession_number="ACC-METRICS-3")
    auth = AuthActions(app.test_client())
    auth.login()
    exam = started_examination(app, order)
    response = auth.post(f"/examinations/{exam}/photographs", {
        "seed": "7", "right_simulate": "y", "right_grade": "0",
        "left_simulate": "y", "left_grade": "2"})
    assert response.status_code == 302, response.text
    sender = context(app).sender
    sender.run_once()  # the archive is down: nothing is sent
    with running_pacs(network, tmp_path / "pacs", ports["pacs"]):
        sender.run_once(now=utcnow() + timedelta(minutes=5))  # the retry is due
    assert [i.state for i in load_examination(app, exam).images] == [ImageState.COMMITTED] * 2
    after = _scrape(app)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("fovea_station_acquisitions_total") == 1
    assert delta("fovea_station_images_acquired_total", laterality="R") == 1
    assert delta("fovea_station_images_acquired_total", laterality="L") == 1
    assert delta(SENT, outcome="failed") == 2
    assert delta(SENT, outcome="stored") == 2
    assert delta(SENT, outcome="refused") == 0
    assert delta("fovea_station_images_committed_total") == 2
    # The station's own DICOM requests, counted where it opens its associations.
    assert delta("fovea_dimse_operations_total", service="station", role="invoker",
                 command="C-STORE", sop_class="OphthalmicPhotography8BitImageStorage",
                 level="", status="success") == 2
    assert delta("fovea_dimse_operations_total", service="station", role="invoker",
                 command="N-ACTION", sop_class="StorageCommitmentPushModel",
                 level="", status="success") == 1
    assert delta("fovea_http_requests_total", endpoint="examinations.photographs",
                 method="POST", status="302") == 1
    text = app.test_client().get("/metrics").text
    for secret in (order.patient_id, "Quixotic", order.accession_number, f"/examinations/{exam}"):
        assert secret not in text
