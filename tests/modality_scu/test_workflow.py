"""The whole examination against the real peers: a nurse's order in the EMR, the
worklist SCP in front of it (MWL C-FIND and MPPS), the archive (C-STORE and
storage commitment). The EMR's order moves to "acquired", or to "discontinued"
when the technician cancels; the MPPS the worklist keeps lists every image.
Nothing that identifies the patient reaches a log line.
"""

from __future__ import annotations

import html
import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from structlog.testing import capture_logs

from emr.models import Order as EmrOrder
from modality_scu.database import database
from modality_scu.models import ImageState, ProcedureState

from .conftest import (
    STATION_AE,
    AuthActions,
    context,
    encoded,
    free_port,
    fundus_like,
    jpeg,
    load_examination,
    make_station,
    running_pacs,
    station_config,
    write_network,
)
from .peers import FAMILY, GIVEN, MRN, SECRETS, Peers, running_peers


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    with running_peers(tmp_path_factory.mktemp("peers")) as running:
        yield running


@pytest.fixture
def station(peers: Peers, tmp_path: Path) -> Iterator[tuple[Flask, Path, int]]:
    """The station calling the module's worklist, and a free port for the archive."""
    pacs_port = free_port()
    network = write_network(tmp_path / "network.toml", pacs_port, peers.worklist_port,
                            emr_port=peers.emr_port)
    app = make_station(station_config(network, tmp_path / "station"))
    yield app, network, pacs_port
    database(app).dispose()


def _start(auth: AuthActions, order: EmrOrder) -> int:
    page = auth.client.get("/worklist")
    assert f"{FAMILY}, {GIVEN}" in page.text
    key = f"{order.study_instance_uid}/{order.scheduled_procedure_step_id}"
    assert f'value="{key}"' in page.text
    started = auth.post("/worklist/start", {"item": key})
    assert started.status_code == 302, html.unescape(auth.client.get("/worklist").text)
    return int(started.headers["Location"].rsplit("/", 1)[1])


def test_an_examination_from_order_to_acquired(peers: Peers, station: tuple[Flask, Path, int],
                                               tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    app, network, pacs_port = station
    order = peers.schedule()
    caplog.set_level(logging.INFO)
    # As configure_logging sets it: pynetdicom's INFO output dumps whole datasets.
    caplog.set_level(logging.WARNING, logger="pynetdicom")
    with capture_logs() as events:
        auth = AuthActions(app.test_client())
        auth.login()
        exam = _start(auth, order)
        assert peers.order_state(order.id)[0] == "in_progress"
        step = peers.step(load_examination(app, exam).mpps_uid)
        assert step.PerformedProcedureStepStatus == "IN PROGRESS"
        assert step.PatientID == MRN and step.PerformedStationAETitle == STATION_AE
        (scheduled,) = step.ScheduledStepAttributesSequence
        assert scheduled.AccessionNumber == order.accession_number
        response = auth.post(f"/examinations/{exam}/photographs", {
            "seed": "3", "right_grade": "0", "left_grade": "0",
            "right_files": [(io.BytesIO(jpeg(1)), f"{FAMILY}_OD.jpg")],
            "left_files": [(io.BytesIO(encoded(fundus_like(2), "PNG")), f"{MRN}_OS.png")]},
            content_type="multipart/form-data")
        assert response.status_code == 302
        with running_pacs(network, tmp_path / "pacs", pacs_port):
            context(app).sender.run_once()
        procedure = load_examination(app, exam)
        page = auth.client.get(f"/examinations/{exam}").text
    assert [i.state for i in procedure.images] == [ImageState.COMMITTED] * 2
    assert procedure.state == ProcedureState.COMPLETED
    assert "COMPLETED sent, listing 2 image(s)" in page
    assert peers.order_state(order.id)[0] == "acquired"
    step = peers.step(procedure.mpps_uid)
    assert step.PerformedProcedureStepStatus == "COMPLETED"
    (series,) = step.PerformedSeriesSequence
    assert {i.ReferencedSOPInstanceUID for i in series.ReferencedImageSequence} == {
        i.sop_instance_uid for i in procedure.images}
    logged = repr(events) + caplog.text
    assert any(e.get("event") == "mpps updated" for e in events)
    for secret in SECRETS:
        assert secret not in logged


def test_a_cancelled_examination_discontinues_the_order(
        peers: Peers, station: tuple[Flask, Path, int]) -> None:
    app, _, _ = station
    order = peers.schedule(laterality="left")
    auth = AuthActions(app.test_client())
    auth.login()
    exam = _start(auth, order)
    assert load_examination(app, exam).eyes == "L"
    auth.post(f"/examinations/{exam}/cancel", {"reason": "PATIENT_CONDITION"})
    context(app).sender.run_once()
    procedure = load_examination(app, exam)
    assert procedure.state == ProcedureState.DISCONTINUED
    state, reason = peers.order_state(order.id)
    assert state == "discontinued"
    assert "Patient condition prevented continuing" in reason
    assert peers.step(procedure.mpps_uid).PerformedProcedureStepStatus == "DISCONTINUED"
