"""The station's Modality Worklist C-FIND against DCMTK's wlmscpfs: today's OP steps of
its own AE title, read into items; and the worklist page built from them."""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from imaging_common.builders import Laterality
from imaging_common.dimse import make_ae
from imaging_common.exceptions import PeerError
from imaging_common.uids import new_uid
from modality_scu import StationConfig
from modality_scu.models import Procedure
from modality_scu.database import session
from modality_scu.worklist_query import WorklistItem, query_worklist

from .conftest import AuthActions, Order, running_wlmscpfs, worklist_item

TODAY = datetime.now(UTC)
TOMORROW = (TODAY + timedelta(days=1)).strftime("%Y%m%d")
ORDERS = {
    "first": Order(accession_number="ACC-W1", patient_id="PID-W1", patient_name="Alpha^Ann",
                   start_time="101500", study_instance_uid=str(new_uid())),
    "right": Order(accession_number="ACC-W2", patient_id="PID-W2", patient_name="Beta^Bob",
                   sex="M", start_time="083000", description="Fundus photography, right eye",
                   scheduled_procedure_step_id="SPS-W2", study_instance_uid=str(new_uid())),
    "other station": Order(accession_number="ACC-W3", station_ae="FUNDUS_CAM2",
                           study_instance_uid=str(new_uid())),
    "tomorrow": Order(accession_number="ACC-W4", start_date=TOMORROW,
                      study_instance_uid=str(new_uid())),
    "ct": Order(accession_number="ACC-W5", modality="CT", study_instance_uid=str(new_uid())),
}


@pytest.fixture
def wlmscpfs(tmp_path: Path, ports: dict[str, int]) -> Iterator[Path]:
    items = [worklist_item(order) for order in ORDERS.values()]
    with running_wlmscpfs(tmp_path / "worklist", items, ports["worklist"]) as folder:
        yield folder


def test_query_returns_todays_op_steps_of_this_station(wlmscpfs: Path,
                                                       config: StationConfig) -> None:
    items = query_worklist(make_ae(config.settings), config.worklist, config.ae_title,
                           TODAY.date())
    assert [i.request.accession_number for i in items] == ["ACC-W2", "ACC-W1"]  # by time
    right, first = items
    assert isinstance(right, WorklistItem)
    assert (right.patient.patient_id, right.patient.patient_name, right.patient.sex) == (
        "PID-W2", "Beta^Bob", "M")
    assert right.patient.birth_date is not None and right.patient.birth_date.year == 1947
    assert right.request.study_instance_uid == ORDERS["right"].study_instance_uid
    assert right.request.requested_procedure_id == "RP-0001"
    assert right.request.scheduled_procedure_step_id == "SPS-W2"
    assert right.eyes == (Laterality.RIGHT,)
    assert first.eyes == (Laterality.RIGHT, Laterality.LEFT)
    assert right.start_time.startswith("0830")
    assert right.protocol_name == "AI diabetic retinopathy screening"


def test_a_worklist_that_does_not_answer_is_a_peer_error(config: StationConfig) -> None:
    with pytest.raises(PeerError, match="association with FOVEA_MWL"):
        query_worklist(make_ae(config.settings), config.worklist, config.ae_title,
                       TODAY.date())


def test_the_worklist_page_lists_todays_patients(wlmscpfs: Path, client: FlaskClient,
                                                 auth: AuthActions) -> None:
    auth.login()
    page = client.get("/worklist")
    assert page.status_code == 200
    assert "Alpha, Ann" in page.text and "Beta, Bob" in page.text
    assert "ACC-W3" not in page.text and "ACC-W4" not in page.text and "ACC-W5" not in page.text
    assert page.text.count(">Start</button>") == 2
    assert f'value="{ORDERS["first"].study_instance_uid}/SPS-0001"' in page.text


def test_starting_needs_an_mpps_scp(wlmscpfs: Path, app: Flask, auth: AuthActions) -> None:
    """wlmscpfs answers queries but not MPPS (it rejects the association): nothing
    starts, and the page says why."""
    auth.login()
    item = f"{ORDERS['first'].study_instance_uid}/SPS-0001"
    page = auth.post("/worklist/start", {"item": item}, follow_redirects=True)
    assert ("The examination was not started: the worklist did not accept its MPPS "
            "N-CREATE (IN PROGRESS). association with FOVEA_MWL") in page.text
    gone = auth.post("/worklist/start", {"item": f"{new_uid()}/SPS-9"}, follow_redirects=True)
    assert "is no longer on today's worklist of FUNDUS_CAM1" in html.unescape(gone.text)
    with app.app_context():
        assert session().query(Procedure).count() == 0
