"""Signing a review puts a verified report (SR) in the PACS, through the archive outbox.

The archive is ``pacs_scp`` in this process (tests/emr/photographs.py); the
study holds two photographs of each eye and the AI node's report, stored as
the station and the AI node store them. The ophthalmologist signs through the
web pages; the verified report is then retrieved from the archive with DCMTK's
getscu and checked by dciodvfy, as any viewer would read it.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import pydicom
import pytest
from flask import Flask
from flask.testing import FlaskClient
from pydicom.dataset import Dataset
from sqlalchemy import select

from emr.archive_outbox import enqueue, send_pending, start_resending
from emr.config import EmrConfig
from emr.database import session
from emr.models import ArchiveItem, ArchiveKind, ArchiveState, Order, Review
from emr.pacs import store_instances
from imaging_common.builders import (AlgorithmIdentity, EncapsulatedPdf, Equipment,
                                     EyeFinding, Patient, Request, build_dr_report,
                                     build_encapsulated_pdf, verified_report_series_uid)
from imaging_common.exceptions import DicomInputError
from imaging_common.uids import derived_uid, new_uid
from pacs_scp.server import start_server
from tests.conftest import dcmtk, pacs_settings, require_tool

from .conftest import (TO_AI_RUNNING, AuthActions, add_order, add_patient, bearer, eye_body,
                       load_order, make_config, move, result_body)
from .photographs import Archive, Photographed, eye_with_photographs, photograph, start_archive

#: The model of the conftest's results, as the AI node names it in its report.
ALGORITHM = AlgorithmIdentity("fovea-effnet", "1.0.0",
                              derived_uid("test", "fovea-effnet", "1.0.0"))
#: The AI's grade of each eye: moderate NPDR on the right, none on the left.
GRADES = {"R": 2, "L": 0}


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Archive]:
    running = start_archive(tmp_path)
    yield running
    if running.server.socket.fileno() != -1:
        running.stop()


@pytest.fixture
def config(database_url: str, tmp_path: Path, archive: Archive) -> EmrConfig:
    return make_config(database_url, tmp_path, dicom=archive.emr_settings,
                       institution="Fovea Eye Clinic")


@dataclass(frozen=True)
class Screening:
    """An order graded by the AI node, its photographs and report in the archive."""

    order_id: int
    study_uid: str
    ai_report: Dataset
    photographs: dict[str, list[Photographed]]


@pytest.fixture
def screening(app: Flask, client: FlaskClient, config: EmrConfig) -> Screening:
    order_id = add_order(app, add_patient(app))
    study = load_order(app, order_id).study_instance_uid
    photographs = {side: [photograph(study, side, seed=10 * n + i, grade=GRADES[side], size=128)
                          for i in range(2)] for n, side in enumerate("RL")}
    with app.app_context():
        order = session().get(Order, order_id)
        assert order is not None
        for photo in (p for side in "RL" for p in photographs[side]):
            _as_the_worklist_said(photo.dataset, order)
    ai_report = build_dr_report([_finding(side, p, i == 0) for side in "RL"
                                 for i, p in enumerate(photographs[side])], ALGORITHM)
    store_instances(config, [*(p.dataset for side in "RL" for p in photographs[side]),
                             ai_report])
    move(client, order_id, *TO_AI_RUNNING)
    body = result_body(eyes=[eye_with_photographs(side, GRADES[side], photographs[side])
                             for side in "RL"])
    body["sr_sop_instance_uid"] = str(ai_report.SOPInstanceUID)
    response = client.post(f"/api/v1/orders/{order_id}/results", json=body,
                           headers=bearer("ai"))
    assert response.status_code == 201, response.json
    return Screening(order_id, study, ai_report, photographs)


def _as_the_worklist_said(ds: Dataset, order: Order) -> None:
    """The patient and accession the station copies from the order's worklist item."""
    patient = order.patient
    ds.PatientID = patient.mrn
    ds.PatientName = f"{patient.family_name}^{patient.given_name}"
    ds.PatientBirthDate = patient.birth_date.strftime("%Y%m%d")
    ds.PatientSex = patient.sex.value
    ds.AccessionNumber = order.accession_number
    for item in ds.get("RequestAttributesSequence", []):
        item.AccessionNumber = order.accession_number


def _finding(side: str, photo: Photographed, decisive: bool) -> EyeFinding:
    """The AI node's finding of one photograph, as the result posted says it."""
    posted = eye_body(side, GRADES[side])
    return EyeFinding(side, photo.dataset, GRADES[side], tuple(posted["probabilities"]),
                      posted["referable_probability"], posted["referable"],
                      referral_threshold=posted["referral_threshold"], borderline=False,
                      decisive=decisive)


def _sign(auth: AuthActions, order_id: int, form: dict[str, str]) -> str:
    """Sign as the ophthalmologist; return the report page the browser lands on."""
    response = auth.post(f"/orders/{order_id}/review", form)
    assert response.status_code == 302, response.text
    return auth.client.get(f"/orders/{order_id}/report").text


def _retrieve(archive: Archive, study_uid: str, sop_instance_uid: str, out: Path,
              series_uid: str | None = None) -> Path:
    """An instance (a verified report unless ``series_uid`` says otherwise), by DCMTK's
    getscu (C-GET, study root, image level)."""
    out.mkdir(exist_ok=True)
    port = str(archive.server.server_address[1])
    series_uid = series_uid or verified_report_series_uid(study_uid)
    dcmtk("getscu", "-S", "-aet", "GETSCU", "-aec", "FOVEA_PACS", "127.0.0.1", port,
          "-k", "QueryRetrieveLevel=IMAGE", "-k", f"StudyInstanceUID={study_uid}",
          "-k", f"SeriesInstanceUID={series_uid}",
          "-k", f"SOPInstanceUID={sop_instance_uid}", "-od", str(out))
    (path,) = out.glob(f"*{sop_instance_uid}*")
    return path


def _back(archive: Archive, tmp_path: Path, port: int) -> Archive:
    """The archive started again on its port, with what it held (tests/emr/photographs.py
    keeps it under ``tmp_path``)."""
    settings = pacs_settings(tmp_path / "network.toml", tmp_path / "pacs", "--database-url",
                             f"sqlite:///{tmp_path / 'pacs.db'}", "--port", str(port))
    return Archive(start_server(settings), archive.emr_settings)


def _validated(path: Path) -> Dataset:
    """The file read strictly, after dciodvfy found no error in it."""
    report = subprocess.run([require_tool("dciodvfy"), "-new", str(path)],
                            capture_output=True, text=True)
    errors = [line for line in (report.stdout + report.stderr).splitlines()
              if line.startswith("Error")]
    assert errors == []
    with pydicom.config.strict_reading():
        return pydicom.dcmread(path)


def _outbox(app: Flask) -> list[ArchiveItem]:
    """The verified reports the EMR owed the PACS, oldest first."""
    with app.app_context():
        return list(session().scalars(select(ArchiveItem).where(
            ArchiveItem.kind == ArchiveKind.VERIFIED_SR).order_by(ArchiveItem.id)))


def _severity(document: Dataset, eye: str) -> str:
    """The meaning of the ICDR grade the document gives ``eye`` ("Right eye", "Left eye")."""
    for group in document.ContentSequence[-1].ContentSequence:
        items = group.ContentSequence
        if any(item.get("TextValue") == eye for item in items):
            (grade,) = [item.ConceptCodeSequence[0].CodeMeaning for item in items
                        if item.ConceptNameCodeSequence[0].CodeValue == "DR-SEVERITY"]
            return str(grade)
    raise AssertionError(f"no measurement group of the {eye}")


def test_signing_puts_a_verified_report_in_the_pacs(
        app: Flask, auth: AuthActions, archive: Archive, screening: Screening,
        tmp_path: Path) -> None:
    auth.login("ophthalmologist")
    page = _sign(auth, screening.order_id, {"R_decision": "approve", "L_decision": "approve"})
    (item,) = _outbox(app)
    assert (item.kind, item.state, item.attempts) == (ArchiveKind.VERIFIED_SR,
                                                      ArchiveState.SENT, 0)
    assert "Signed report in the PACS since" in page and item.sop_instance_uid in page
    with app.app_context():
        reviews = session().scalars(select(Review)).all()
        assert {r.sr_sop_instance_uid for r in reviews} == {item.sop_instance_uid}

    document = _validated(_retrieve(archive, screening.study_uid, item.sop_instance_uid,
                                    tmp_path / "got"))
    assert (document.VerificationFlag, document.PreliminaryFlag) == ("VERIFIED", "FINAL")
    (observer,) = document.VerifyingObserverSequence
    assert str(observer.VerifyingObserverName) == "Ophthalmologist Tester^"
    assert observer.VerifyingOrganization == "Fovea Eye Clinic"
    assert document.StudyInstanceUID == screening.study_uid
    assert document.PatientID == screening.ai_report.PatientID
    assert "PredecessorDocumentsSequence" not in document
    evidence = {ref.ReferencedSOPInstanceUID
                for study in document.CurrentRequestedProcedureEvidenceSequence
                for series in study.ReferencedSeriesSequence
                for ref in series.ReferencedSOPSequence}
    assert evidence == {screening.ai_report.SOPInstanceUID} | {
        p.uid for side in "RL" for p in screening.photographs[side]}
    assert _severity(document, "Right eye") == "Moderate nonproliferative diabetic retinopathy"
    assert _severity(document, "Left eye") == "No apparent retinopathy"


def test_a_correction_after_signing_supersedes_the_first_report(
        app: Flask, auth: AuthActions, archive: Archive, screening: Screening,
        tmp_path: Path) -> None:
    auth.login("ophthalmologist")
    _sign(auth, screening.order_id, {"R_decision": "approve", "L_decision": "approve"})
    page = _sign(auth, screening.order_id, {
        "R_decision": "correct", "R_grade": "3", "R_maculopathy": "yes",
        "R_comment": "Haemorrhages in four quadrants", "L_decision": "approve"})
    first, second = _outbox(app)
    assert first.state == second.state == ArchiveState.SENT
    assert second.predecessor_uid == first.sop_instance_uid
    assert f"superseding\n    <code>{first.sop_instance_uid}</code>" in page

    earlier = _validated(_retrieve(archive, screening.study_uid, first.sop_instance_uid,
                                   tmp_path / "first"))
    later = _validated(_retrieve(archive, screening.study_uid, second.sop_instance_uid,
                                 tmp_path / "second"))
    (study,) = later.PredecessorDocumentsSequence
    (series,) = study.ReferencedSeriesSequence
    (previous,) = series.ReferencedSOPSequence
    assert (study.StudyInstanceUID, series.SeriesInstanceUID) == (
        earlier.StudyInstanceUID, earlier.SeriesInstanceUID)
    assert (previous.ReferencedSOPClassUID, previous.ReferencedSOPInstanceUID) == (
        earlier.SOPClassUID, earlier.SOPInstanceUID)
    assert (earlier.InstanceNumber, later.InstanceNumber) == (1, 2)
    assert _severity(earlier, "Right eye") == "Moderate nonproliferative diabetic retinopathy"
    assert _severity(later, "Right eye") == "Severe nonproliferative diabetic retinopathy"


def test_a_signing_while_the_pacs_is_away_is_sent_when_it_is_back(
        app: Flask, auth: AuthActions, archive: Archive, screening: Screening,
        tmp_path: Path) -> None:
    port = archive.server.server_address[1]
    archive.stop()
    auth.login("ophthalmologist")
    page = _sign(auth, screening.order_id, {"R_decision": "approve", "L_decision": "approve"})
    assert load_order(app, screening.order_id).state.value == "reviewed"
    (item,) = _outbox(app)
    assert (item.state, item.attempts) == (ArchiveState.PENDING, 1)
    assert item.last_error and "Waiting to be sent to the PACS" in page
    assert "Not yet in the PACS" in page and item.sop_instance_uid in page

    # Still away: the button tries again and keeps the report owed.
    response = auth.post(f"/orders/{screening.order_id}/archive", follow_redirects=True)
    assert "Waiting to be sent to the PACS" in response.text
    (item,) = _outbox(app)
    assert (item.state, item.attempts) == (ArchiveState.PENDING, 2)

    # Back, with what it held: the operators' command sends what is owed.
    back = _back(archive, tmp_path, port)
    try:
        result = app.test_cli_runner().invoke(args=["send-archive"])
        assert result.exit_code == 0, result.output
        assert "sent, 0 failed, 0 waiting" in result.output
        (item,) = _outbox(app)
        assert item.state == ArchiveState.SENT and item.last_error == ""
        page = auth.client.get(f"/orders/{screening.order_id}/report").text
        assert "Signed report in the PACS since" in page
        document = _validated(_retrieve(back, screening.study_uid, item.sop_instance_uid,
                                        tmp_path / "got"))
        assert document.VerificationFlag == "VERIFIED"
    finally:
        back.stop()


def test_the_emr_process_sends_what_is_owed_by_itself_once_the_pacs_is_back(
        app: Flask, auth: AuthActions, archive: Archive, screening: Screening,
        tmp_path: Path) -> None:
    port = archive.server.server_address[1]
    archive.stop()
    auth.login("ophthalmologist")
    _sign(auth, screening.order_id, {"R_decision": "approve", "L_decision": "approve"})
    assert {item.state for item in _outbox(app)} == {ArchiveState.PENDING}
    stop = start_resending(app, seconds=0.2)  # as python -m emr runs it
    back = _back(archive, tmp_path, port)
    try:
        deadline = time.monotonic() + 30
        while {item.state for item in _outbox(app)} != {ArchiveState.SENT}:
            assert time.monotonic() < deadline, [i.last_error for i in _outbox(app)]
            time.sleep(0.2)
    finally:
        stop.set()
        back.stop()


def test_the_command_says_when_something_is_left_waiting(
        app: Flask, auth: AuthActions, archive: Archive, screening: Screening) -> None:
    archive.stop()
    auth.login("ophthalmologist")
    _sign(auth, screening.order_id, {"R_decision": "approve", "L_decision": "approve"})
    result = app.test_cli_runner().invoke(args=["send-archive"])
    assert result.exit_code == 1
    assert "0 sent," in result.output
    (item,) = _outbox(app)
    assert (item.state, item.attempts) == (ArchiveState.PENDING, 2)


def test_two_signings_while_the_pacs_is_away_arrive_in_order(
        app: Flask, auth: AuthActions, archive: Archive, screening: Screening,
        tmp_path: Path) -> None:
    port = archive.server.server_address[1]
    archive.stop()
    auth.login("ophthalmologist")
    _sign(auth, screening.order_id, {"R_decision": "approve", "L_decision": "approve"})
    _sign(auth, screening.order_id, {"R_decision": "correct", "R_grade": "4",
                                     "R_comment": "New vessels on the disc",
                                     "L_decision": "approve"})
    first, second = _outbox(app)
    assert first.state == second.state == ArchiveState.PENDING
    assert second.predecessor_uid == first.sop_instance_uid
    back = _back(archive, tmp_path, port)
    try:
        response = auth.post(f"/orders/{screening.order_id}/archive", follow_redirects=True)
        assert "The signed report is in the PACS." in response.text
        first, second = _outbox(app)
        assert first.sent_at is not None and second.sent_at is not None
        assert first.sent_at <= second.sent_at
        later = _validated(_retrieve(back, screening.study_uid, second.sop_instance_uid,
                                     tmp_path / "got"))
        (study,) = later.PredecessorDocumentsSequence
        assert study.ReferencedSeriesSequence[0].ReferencedSOPSequence[0] \
            .ReferencedSOPInstanceUID == first.sop_instance_uid
        assert _severity(later, "Right eye") == "Proliferative diabetic retinopathy"
    finally:
        back.stop()


def test_enqueue_owes_an_object_of_the_orders_study_once(
        app: Flask, archive: Archive, config: EmrConfig, screening: Screening,
        tmp_path: Path) -> None:
    """The outbox's interface for any object: refused for another study, replaced when
    owed again under the same SOP Instance UID, then sent and retrievable."""
    with app.app_context():
        db = session()
        order = db.get(Order, screening.order_id)
        assert order is not None
        patient = Patient(order.patient.mrn, "Doe^Jane")
        pdf = EncapsulatedPdf(b"%PDF-1.4\n%%EOF\n", "Screening report",
                              datetime(2026, 12, 6, 9, 0))
        elsewhere = build_encapsulated_pdf(pdf, patient, Request(str(new_uid())), Equipment())
        with pytest.raises(DicomInputError, match="another study"):
            enqueue(db, order, elsewhere, ArchiveKind.REPORT_PDF)
        db.rollback()
        request = Request(order.study_instance_uid, order.accession_number)
        uid = str(new_uid())
        for title in ("Screening report", "Screening report, amended"):
            document = build_encapsulated_pdf(replace(pdf, title=title), patient, request,
                                              Equipment(), sop_instance_uid=uid)
            enqueue(db, order, document, "report-pdf")
            db.commit()
        (owed,) = db.scalars(select(ArchiveItem).where(ArchiveItem.sop_instance_uid == uid))
        assert owed.kind == ArchiveKind.REPORT_PDF and owed.state == ArchiveState.PENDING
        summary = send_pending(db, config, order_id=order.id)
        assert summary.all_sent and summary.sent >= 1
        db.refresh(owed)
        assert owed.state == ArchiveState.SENT
        series = str(document.SeriesInstanceUID)
    got = pydicom.dcmread(_retrieve(archive, screening.study_uid, uid, tmp_path / "pdf", series))
    assert got.DocumentTitle == "Screening report, amended"
