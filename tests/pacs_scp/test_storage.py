"""Storing: durability, the re-sent instance policy, reconciliation, bad input."""

from __future__ import annotations

import os
import signal
import socket
import threading
from pathlib import Path

import pytest
from pydicom import dcmread
from pynetdicom import AE, _config, sop_class
from sqlalchemy import func, select

from imaging_common.dimse import NODELAY_HANDLERS
from imaging_common.exceptions import DicomInputError
from imaging_common.status import StoreStatus
from pacs_scp.index import indexed_paths
from pacs_scp.models import Instance, Patient, Study
from pacs_scp.server import build_context
from pacs_scp.storage import Outcome, reconcile
from tests.conftest import RunningPacs, dcmtk, pacs_settings, start_pacs_process
from tests.factory import make_instance, write


def _encoded(ds: object, tmp_path: Path) -> bytes:
    return write(ds, tmp_path / "x.dcm").read_bytes()  # type: ignore[arg-type]


def _scu(pacs_port: int, *classes: str) -> object:
    ae = AE(ae_title="TESTSCU")
    for uid in classes or (sop_class.SecondaryCaptureImageStorage,):
        ae.add_requested_context(uid)
    assoc = ae.associate("127.0.0.1", pacs_port, ae_title="FOVEA_PACS",
                         evt_handlers=NODELAY_HANDLERS)
    assert assoc.is_established
    return assoc


def test_resent_instance_newest_wins(pacs: RunningPacs, tmp_path: Path) -> None:
    ctx = pacs.context
    assert ctx is not None
    first = make_instance(sop_uid="1.2.826.9.1", study_description="first")
    second = make_instance(sop_uid="1.2.826.9.1", study_uid=first.StudyInstanceUID,
                           series_uid=first.SeriesInstanceUID, study_description="second")
    ts = "1.2.840.10008.1.2.1"
    assert ctx.store.store(_encoded(first, tmp_path), ts, "T").outcome \
        == Outcome.STORED
    assert ctx.store.store(_encoded(first, tmp_path), ts, "T").outcome \
        == Outcome.DUPLICATE
    result = ctx.store.store(_encoded(second, tmp_path), ts, "T")
    assert result.outcome == Outcome.REPLACED
    with ctx.sessions() as session:
        (path,) = indexed_paths(session)
        assert session.scalar(select(Study.study_description)) == "second"
    assert ctx.archive.verify(path, result.checksum)
    assert list(ctx.archive.files()) == [path]  # the replaced file is gone


def test_study_of_another_patient_is_refused(pacs: RunningPacs, tmp_path: Path) -> None:
    ctx = pacs.context
    assert ctx is not None
    first = make_instance(patient_id="A")
    intruder = make_instance(patient_id="B", study_uid=first.StudyInstanceUID)
    assoc = _scu(pacs.port)
    assert assoc.send_c_store(first).Status == StoreStatus.SUCCESS
    status = assoc.send_c_store(intruder)
    assoc.release()
    assert status.Status == StoreStatus.CANNOT_UNDERSTAND
    assert "another patient" in status.ErrorComment
    with ctx.sessions() as session:
        assert session.scalar(select(func.count(Instance.pk))) == 1
        assert session.scalar(select(func.count(Patient.pk))) == 1


@pytest.mark.parametrize("cut_after", [b"DOE^JANE", b"\xe0\x7f\x10\x00"])
def test_truncated_bytes_are_refused_and_change_nothing(pacs: RunningPacs, tmp_path: Path,
                                                        cut_after: bytes) -> None:
    """The receive path gets the bytes as sent; a cut inside an element is caught."""
    ctx = pacs.context
    assert ctx is not None
    data = write(make_instance(rows=64, columns=64), tmp_path / "whole.dcm").read_bytes()
    truncated = data[: data.index(cut_after) + len(cut_after) + 3]
    with pytest.raises(DicomInputError, match="truncated"):
        ctx.store.store(truncated, "1.2.840.10008.1.2.1", "T")
    assert list(ctx.archive.files()) == []
    assert not list(ctx.archive.incoming.iterdir())


def test_dataset_without_its_uids_is_refused(pacs: RunningPacs, tmp_path: Path) -> None:
    """What a lenient sender makes of a truncated file: the archive says what lacks."""
    ds = make_instance()
    del ds.StudyInstanceUID
    assoc = _scu(pacs.port)
    status = assoc.send_c_store(ds)
    assert status.Status == StoreStatus.CANNOT_UNDERSTAND
    assert status.ErrorComment == "StudyInstanceUID is not a valid UID"
    assert assoc.send_c_store(make_instance()).Status == StoreStatus.SUCCESS  # still serving
    assoc.release()
    assert pacs.context is not None
    assert len(list(pacs.context.archive.files())) == 1


def test_dataset_of_another_sop_class_is_refused(
        pacs: RunningPacs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A CT dataset sent on a Secondary Capture context gets 0xA900."""
    ds = make_instance(sop_class_uid=sop_class.CTImageStorage)
    path = write(ds, tmp_path / "ct.dcm")
    mislabelled = dcmread(path)
    mislabelled.file_meta.MediaStorageSOPClassUID = sop_class.SecondaryCaptureImageStorage
    mislabelled.save_as(path)
    # Sent from the file, pynetdicom takes the SOP class from the file meta
    # and the dataset bytes as they are.
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)
    assoc = _scu(pacs.port)
    status = assoc.send_c_store(path)
    assoc.release()
    assert status.Status == StoreStatus.DATASET_DOES_NOT_MATCH_SOP_CLASS
    assert pacs.context is not None
    assert list(pacs.context.archive.files()) == []


def test_garbage_on_the_port_leaves_the_archive_serving(pacs: RunningPacs) -> None:
    with socket.create_connection(("127.0.0.1", pacs.port)) as sock:
        sock.sendall(os.urandom(64) + b"\x01\x00\x00\x00\xff\xff\xff\xff" + os.urandom(512))
        sock.settimeout(5)
        try:
            while sock.recv(4096):
                pass  # the archive answers with an abort and closes
        except (ConnectionResetError, socket.timeout):
            pass
    dcmtk("echoscu", "-aet", "ECHOSCU", *pacs.address())


def test_reconcile_removes_partial_and_unindexed_files(pacs: RunningPacs, tmp_path: Path) -> None:
    ctx = pacs.context
    assert ctx is not None
    ds = make_instance()
    ctx.store.store(_encoded(ds, tmp_path), "1.2.840.10008.1.2.1", "T")
    (ctx.archive.incoming / "crash.part").write_bytes(b"half a file")
    ctx.archive.write("1.2.3/1.2.4/1.2.5.0123456789abcdef.dcm", b"never acknowledged")
    summary = reconcile(ctx.sessions, ctx.archive)
    assert summary == {"partial_files": 1, "orphan_files": 1, "missing_files": 0}
    with ctx.sessions() as session:
        assert set(ctx.archive.files()) == indexed_paths(session)


@pytest.mark.slow
def test_kill_9_during_a_batch_loses_nothing_acknowledged(network_file: Path,
                                                          tmp_path: Path) -> None:
    """Every instance that got a success survives kill -9; files and index agree."""
    data_dir = tmp_path / "pacs"
    process, port = start_pacs_process(network_file, data_dir)
    files = [write(make_instance(rows=128, columns=128, seed=i, instance_number=i),
                   tmp_path / "batch" / f"{i}.dcm") for i in range(400)]
    acknowledged: list[str] = []
    killed = threading.Event()
    assoc = _scu(port)
    try:
        for path in files:
            status = assoc.send_c_store(path)
            if status.get("Status") != StoreStatus.SUCCESS:
                break
            acknowledged.append(str(dcmread(path, stop_before_pixels=True).SOPInstanceUID))
            if len(acknowledged) == 150 and not killed.is_set():
                os.kill(process.pid, signal.SIGKILL)
                killed.set()
    finally:
        assoc.abort()
        process.wait(timeout=10)
    assert killed.is_set() and 150 <= len(acknowledged) < len(files)

    restarted, _ = start_pacs_process(network_file, data_dir)
    restarted.terminate()
    restarted.wait(timeout=10)
    ctx = build_context(pacs_settings(network_file, data_dir))
    with ctx.sessions() as session:
        rows = {i.sop_instance_uid: i for i in session.scalars(select(Instance))}
        paths = indexed_paths(session)
    assert set(acknowledged) <= set(rows)
    for uid in acknowledged:
        assert ctx.archive.verify(rows[uid].file_path, rows[uid].checksum)
    assert set(ctx.archive.files()) == paths
    assert not list(ctx.archive.incoming.iterdir())
