"""Store-and-forward: C-STORE and storage commitment against the real archive and
DCMTK's storescp, with the archive down, refusing, restarted, or the station restarted.

The MPPS end goes to a small pynetdicom MPPS SCP that records what it is sent
(the whole workflow against the real worklist is in test_workflow.py).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import JPEGBaseline8Bit
from pynetdicom import AE, evt
from sqlalchemy import create_engine, select

from imaging_common.dimse import NODELAY_HANDLERS
from imaging_common.sop_classes import MODALITY_PERFORMED_PROCEDURE_STEP
from imaging_common.status import NStatus
from modality_scu import StationConfig
from modality_scu.database import database
from modality_scu.models import ImageState, ProcedureState, utcnow
from pacs_scp.models import Instance

from .conftest import (
    PACS_AE,
    WORKLIST_AE,
    AuthActions,
    Order,
    context,
    dciodvfy_errors,
    encoded,
    eventually,
    fundus_like,
    jpeg,
    load_examination,
    make_station,
    running_pacs,
    running_storescp,
    started_examination,
    station_config,
    write_network,
)


@dataclass
class MppsRecorder:
    """An MPPS SCP that answers success and keeps every N-CREATE and N-SET."""

    created: list[tuple[str, Dataset]] = field(default_factory=list)
    updated: list[tuple[str, Dataset]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_create(self, event: evt.Event) -> tuple[int, Dataset]:
        with self.lock:
            self.created.append((str(event.request.AffectedSOPInstanceUID),
                                 event.attribute_list))
        return NStatus.SUCCESS, event.attribute_list

    def on_set(self, event: evt.Event) -> tuple[int, Dataset]:
        with self.lock:
            self.updated.append((str(event.request.RequestedSOPInstanceUID),
                                 event.modification_list))
        return NStatus.SUCCESS, event.modification_list


@pytest.fixture
def mpps(ports: dict[str, int]) -> Iterator[MppsRecorder]:
    recorder = MppsRecorder()
    ae = AE(ae_title=WORKLIST_AE)
    ae.add_supported_context(MODALITY_PERFORMED_PROCEDURE_STEP)
    server = ae.start_server(("127.0.0.1", ports["worklist"]), block=False, evt_handlers=[
        *NODELAY_HANDLERS, (evt.EVT_N_CREATE, recorder.on_create),
        (evt.EVT_N_SET, recorder.on_set)])
    yield recorder
    server.shutdown()


def _queue_photographs(app: Flask, accession: str = "ACC-OUT-1") -> int:
    """Start an examination and give both eyes' photographs through the form."""
    auth = AuthActions(app.test_client())
    auth.login()
    exam = started_examination(app, Order(accession_number=accession))
    response = auth.post(f"/examinations/{exam}/photographs", {
        "seed": "1", "right_grade": "0", "left_grade": "0",
        "right_files": [(io.BytesIO(jpeg(1)), "od.jpg")],
        "left_files": [(io.BytesIO(encoded(fundus_like(2), "PNG")), "os.png")]},
        content_type="multipart/form-data")
    assert response.status_code == 302, response.text
    return exam


def _archived(pacs_dir: Path) -> set[str]:
    engine = create_engine(f"sqlite:///{pacs_dir / 'pacs.db'}")
    try:
        with engine.connect() as connection:
            return set(connection.scalars(select(Instance.sop_instance_uid)))
    finally:
        engine.dispose()


def _states(app: Flask, exam: int) -> list[ImageState]:
    return [i.state for i in load_examination(app, exam).images]


def test_stored_committed_then_completed(app: Flask, network: Path, ports: dict[str, int],
                                         tmp_path: Path, mpps: MppsRecorder) -> None:
    exam = _queue_photographs(app)
    with running_pacs(network, tmp_path / "pacs", ports["pacs"]):
        context(app).sender.run_once()
    procedure = load_examination(app, exam)
    assert [i.state for i in procedure.images] == [ImageState.COMMITTED] * 2
    assert all(i.last_error == "" for i in procedure.images)
    uids = {i.sop_instance_uid for i in procedure.images}
    assert _archived(tmp_path / "pacs") == uids
    assert list(context(app).config.outbox_dir.iterdir()) == []  # committed: removed
    assert procedure.state == ProcedureState.COMPLETED
    ((uid, modification),) = mpps.updated
    assert uid == procedure.mpps_uid
    assert modification.PerformedProcedureStepStatus == "COMPLETED"
    assert modification.PerformedProcedureStepEndDate and modification.PerformedProcedureStepEndTime
    (series,) = modification.PerformedSeriesSequence
    assert series.SeriesInstanceUID == procedure.series_instance_uid
    assert series.ProtocolName == "AI diabetic retinopathy screening"
    assert series.RetrieveAETitle == PACS_AE
    assert series.OperatorsName == "Technician^Tess"
    assert {i.ReferencedSOPInstanceUID for i in series.ReferencedImageSequence} == uids


def test_archive_down_then_up(app: Flask, network: Path, ports: dict[str, int],
                              tmp_path: Path, mpps: MppsRecorder) -> None:
    exam = _queue_photographs(app)
    sender = context(app).sender
    now = utcnow()
    next_due = sender.run_once(now)
    procedure = load_examination(app, exam)
    assert _states(app, exam) == [ImageState.PENDING] * 2
    assert all(i.attempts == 1 for i in procedure.images)
    error = procedure.images[0].last_error
    assert error.startswith(f"FOVEA_PACS at 127.0.0.1:{ports['pacs']}: association with")
    assert next_due == now + timedelta(seconds=0.2)  # the first backoff
    sender.run_once(now + timedelta(seconds=0.3))
    procedure = load_examination(app, exam)
    assert all(i.attempts == 2 for i in procedure.images)
    assert procedure.images[0].next_attempt_at == now + timedelta(seconds=0.3 + 0.4)
    assert mpps.updated == []  # nothing completes while an image waits
    auth = AuthActions(app.test_client())
    auth.login()
    page = auth.client.get(f"/examinations/{exam}").text
    assert "Waiting to be sent" in page and "association with FOVEA_PACS" in page
    assert '<meta http-equiv="refresh" content="3">' in page
    worklist = auth.client.get("/worklist").text
    assert "2 image(s) not yet stored" in worklist and "Last error: FOVEA_PACS" in worklist
    assert "ACC-OUT-1" in auth.client.get("/outbox").text
    with running_pacs(network, tmp_path / "pacs", ports["pacs"]):
        sender.run_once(now + timedelta(seconds=5))
    assert _states(app, exam) == [ImageState.COMMITTED] * 2
    assert load_examination(app, exam).state == ProcedureState.COMPLETED
    assert len(mpps.updated) == 1
    assert "Nothing is waiting" in auth.client.get("/outbox").text


def test_station_restarted_midway_loses_nothing(config: StationConfig, network: Path,
                                                ports: dict[str, int], tmp_path: Path,
                                                mpps: MppsRecorder) -> None:
    first = make_station(config)
    exam = _queue_photographs(first)
    context(first).sender.run_once()  # the archive is down
    assert _states(first, exam) == [ImageState.PENDING] * 2
    queued = {i.sop_instance_uid for i in load_examination(first, exam).images}
    database(first).dispose()  # the station stops
    outbox = config.outbox_dir
    (outbox / "stray.dcm.part").write_bytes(b"half a file")  # a write cut short
    with running_pacs(network, tmp_path / "pacs", ports["pacs"]):
        second = make_station(config)
        context(second).sender.start()  # resumes on start
        try:
            eventually(lambda: load_examination(second, exam).state == ProcedureState.COMPLETED)
        finally:
            context(second).sender.stop()
            database(second).dispose()
    assert _archived(tmp_path / "pacs") == queued
    assert list(outbox.iterdir()) == []
    assert len(mpps.updated) == 1


def test_storescp_stores_but_does_not_commit(app: Flask, ports: dict[str, int],
                                             tmp_path: Path, mpps: MppsRecorder) -> None:
    exam = _queue_photographs(app)
    with running_storescp(tmp_path / "received", ports["pacs"]) as received:
        context(app).sender.run_once()
    procedure = load_examination(app, exam)
    assert _states(app, exam) == [ImageState.STORED] * 2
    assert procedure.images[0].last_error == "the archive does not offer storage commitment"
    assert procedure.state == ProcedureState.SENDING and mpps.updated == []
    files = sorted(received.iterdir())
    assert len(files) == 2
    syntaxes = set()
    for path in files:
        assert dciodvfy_errors(path) == []
        syntaxes.add(dcmread(path).file_meta.TransferSyntaxUID)
    assert JPEGBaseline8Bit in syntaxes  # the camera's JPEG went out as it came


def test_an_image_the_archive_lacks_is_sent_again(app: Flask, network: Path,
                                                  ports: dict[str, int], tmp_path: Path,
                                                  mpps: MppsRecorder) -> None:
    exam = _queue_photographs(app)
    sender = context(app).sender
    with running_storescp(tmp_path / "received", ports["pacs"]):
        sender.run_once()
    assert _states(app, exam) == [ImageState.STORED] * 2
    later = utcnow() + timedelta(seconds=5)
    with running_pacs(network, tmp_path / "pacs", ports["pacs"]):
        sender.run_once(later)  # the archive has not got them: commitment fails
        procedure = load_examination(app, exam)
        assert _states(app, exam) == [ImageState.PENDING] * 2
        assert "did not commit to the image (no such object instance)" in (
            procedure.images[0].last_error)
        sender.run_once(later + timedelta(seconds=5))
    assert _states(app, exam) == [ImageState.COMMITTED] * 2
    assert len(mpps.updated) == 1


def test_an_archive_that_refuses_the_station(tmp_path: Path, ports: dict[str, int],
                                             mpps: MppsRecorder) -> None:
    network = write_network(tmp_path / "refusing.toml", ports["pacs"], ports["worklist"])
    network.write_text(network.read_text().replace(
        'accepts = ["FUNDUS_CAM1"]\n\n[nodes.worklist]', 'accepts = ["OTHER"]\n\n[nodes.worklist]'))
    app = make_station(station_config(network, tmp_path / "station"))
    try:
        exam = _queue_photographs(app)
        with running_pacs(network, tmp_path / "pacs", ports["pacs"]):
            context(app).sender.run_once()
        procedure = load_examination(app, exam)
        assert _states(app, exam) == [ImageState.PENDING] * 2
        assert "association with FOVEA_PACS" in procedure.images[0].last_error
        assert mpps.updated == []
    finally:
        database(app).dispose()


def test_a_worklist_down_delays_only_the_mpps_end(app: Flask, network: Path,
                                                  ports: dict[str, int], tmp_path: Path) -> None:
    exam = _queue_photographs(app)
    sender = context(app).sender
    with running_pacs(network, tmp_path / "pacs", ports["pacs"]):
        sender.run_once()
    procedure = load_examination(app, exam)
    assert _states(app, exam) == [ImageState.COMMITTED] * 2
    assert procedure.state == ProcedureState.SENDING
    assert procedure.mpps_last_error.startswith("FOVEA_MWL at 127.0.0.1")
    assert procedure.mpps_attempts == 1
    recorder = MppsRecorder()
    ae = AE(ae_title=WORKLIST_AE)
    ae.add_supported_context(MODALITY_PERFORMED_PROCEDURE_STEP)
    server = ae.start_server(("127.0.0.1", ports["worklist"]), block=False,
                             evt_handlers=[(evt.EVT_N_SET, recorder.on_set)])
    try:
        sender.run_once(utcnow() + timedelta(seconds=5))
    finally:
        server.shutdown()
    assert load_examination(app, exam).state == ProcedureState.COMPLETED
    assert len(recorder.updated) == 1


def test_cancelled_examination_ends_discontinued(app: Flask, mpps: MppsRecorder) -> None:
    auth = AuthActions(app.test_client())
    auth.login()
    exam = started_examination(app, Order(accession_number="ACC-CANCEL"))
    auth.post(f"/examinations/{exam}/cancel", {"reason": "INCORRECT_WORKLIST_ENTRY"})
    context(app).sender.run_once()
    procedure = load_examination(app, exam)
    assert procedure.state == ProcedureState.DISCONTINUED
    ((uid, modification),) = mpps.updated
    assert uid == procedure.mpps_uid
    assert modification.PerformedProcedureStepStatus == "DISCONTINUED"
    (reason,) = modification.PerformedProcedureStepDiscontinuationReasonCodeSequence
    assert (reason.CodeValue, reason.CodingSchemeDesignator) == ("110514", "DCM")
    (series,) = modification.PerformedSeriesSequence
    assert series.SeriesInstanceUID == procedure.series_instance_uid
    assert len(series.ReferencedImageSequence) == 0
    page = auth.client.get(f"/examinations/{exam}").text
    assert "DISCONTINUED sent at" in page
    assert "Cancelled by the technician: Incorrect worklist entry selected." in page


def test_a_lost_outbox_file_holds_back_only_its_image(app: Flask, network: Path,
                                                      ports: dict[str, int], tmp_path: Path,
                                                      mpps: MppsRecorder) -> None:
    exam = _queue_photographs(app)
    lost = load_examination(app, exam).images[1]
    (context(app).config.outbox_dir / lost.file_name).unlink()
    with running_pacs(network, tmp_path / "pacs", ports["pacs"]):
        context(app).sender.run_once()
    first, second = load_examination(app, exam).images
    assert first.state == ImageState.COMMITTED
    assert second.state == ImageState.PENDING
    assert second.last_error.startswith("not sent: its outbox file is unreadable")
    assert mpps.updated == []  # the examination is not complete without it
