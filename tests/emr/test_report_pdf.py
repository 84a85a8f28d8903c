"""The printable report: one page of the report page's content, downloaded by a logged-in
user, names in any script, photographs or a word where one cannot be had."""

from __future__ import annotations

import io
import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import pydicom
import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import select

from emr import create_app, report_pdf
from emr.accounts import create_user
from emr.database import database, session
from emr.models import (ArchiveItem, ArchiveKind, ArchiveState, AuditEntry, Order, Patient,
                        Review)
from emr.pacs import store_instances
from emr.report_pdf import (NOT_SIGNED, RESEARCH_BANNER, Picture, printed_photographs,
                            render_report_pdf)
from emr.reports import build_report
from imaging_common.builders import (AlgorithmIdentity, Equipment, EyeFinding, Laterality,
                                     OphthalmicImage, Request, build_dr_report,
                                     build_ophthalmic_photograph, encapsulated_document,
                                     report_pdf_series_uid)
from imaging_common.builders import Patient as DicomPatient
from imaging_common.settings import Settings, load_settings
from imaging_common.uids import derived_uid, new_uid
from modality_scu.synthetic import synthetic_jpeg
from pacs_scp.server import start_server
from tests.conftest import RunningPacs, dcmtk, pacs_settings, require_tool

from .conftest import (FAST_HASH, PASSWORD, TO_AI_RUNNING, USERS, AuthActions, Seeded,
                       add_order, add_patient, bearer, eye_body, make_config, move, result_body)
from .test_results import photograph_entry

PRINTED_AT = datetime(2026, 3, 1, 11, 0, tzinfo=timezone.utc)


def text_of(document: bytes) -> str:
    """The PDF's text as a reader extracts it, one line per line drawn."""
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(document)).pages)


def pages(document: bytes) -> int:
    return len(PdfReader(io.BytesIO(document)).pages)


def four_photograph_eyes(grades: tuple[int, int] = (2, 0)) -> list[dict[str, Any]]:
    """Two photographs of each eye, the second of each deciding it."""
    eyes = []
    for laterality, grade in zip(("R", "L"), grades):
        first, second = str(new_uid()), str(new_uid())
        deciding = photograph_entry(second, True, grade)
        eye = {**eye_body(laterality, grade), "source_sop_instance_uids": [first, second],
               "decisive_sop_instance_uid": second,
               "sc_sop_instance_uid": deciding["sc_sop_instance_uid"],
               "images": [photograph_entry(first, False, grade), deciding]}
        eyes.append(eye)
    return eyes


def graded_with_photographs(app: Flask, client: FlaskClient, patient_id: int,
                            grades: tuple[int, int] = (2, 0)) -> int:
    order_id = add_order(app, patient_id)
    move(client, order_id, *TO_AI_RUNNING)
    response = client.post(f"/api/v1/orders/{order_id}/results",
                           json=result_body(eyes=four_photograph_eyes(grades)),
                           headers=bearer("ai"))
    assert response.status_code == 201, response.json
    return order_id


def synthetic_pictures(order: Order) -> dict[str, Picture | None]:
    """A synthetic photograph (never a real one) for each photograph the page shows."""
    pictures: dict[str, Picture | None] = {}
    for seed, eye in enumerate(order.current_result.eyes if order.current_result else ()):
        for number, photo in enumerate(printed_photographs(eye)):
            data = synthetic_jpeg(seed=seed * 10 + number, grade=eye.grade or 0,
                                  laterality=eye.laterality, size=768)
            pictures[photo.sop_instance_uid] = Picture(data, "image/jpeg")
    return pictures


def render(app: Flask, order_id: int, with_pictures: bool = True) -> bytes:
    with app.app_context():
        order = session().get(Order, order_id)
        assert order is not None
        pictures = synthetic_pictures(order) if with_pictures else {}
        return render_report_pdf(build_report(order), pictures, timezone.utc, PRINTED_AT)


def test_the_pdf_downloads_for_a_logged_in_user_only(
        app: Flask, client: FlaskClient, auth: AuthActions, graded: Seeded) -> None:
    url = f"/orders/{graded.order_id}/report.pdf"
    logged_out = client.get(url)
    assert logged_out.status_code == 302 and "/login" in logged_out.headers["Location"]
    auth.login("nurse")
    response = client.get(url)
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    order = session_order(app, graded.order_id)
    assert response.headers["Content-Disposition"] == (
        f"attachment; filename=fovea-report-{order.accession_number}.pdf")
    document = response.data
    assert pages(document) == 1
    text = text_of(document)
    assert "DOE, Jane" in text and "MRN001" in text
    assert "Moderate non-proliferative diabetic retinopathy" in text  # the right eye
    assert "No apparent retinopathy" in text  # the left eye
    assert "Refer to an ophthalmologist within 3 months" in text  # emr.decision's action
    assert "not assessed by this model" in text  # oedema not assessed is never "absent"
    assert NOT_SIGNED in text
    assert " ".join(RESEARCH_BANNER) in " ".join(text.split("\n"))
    # No PACS is configured here: the page says so where each photograph would be.
    assert text.count("Photograph not available") == 4
    with app.app_context():
        events = session().scalars(select(AuditEntry).where(
            AuditEntry.action == "report.pdf.download")).all()
        assert [(e.order_id, e.patient_id) for e in events] == [
            (graded.order_id, graded.patient_id)]
    assert client.get("/orders/999/report.pdf").status_code == 404


def test_the_report_page_links_the_pdf_and_shows_the_same_banner(
        client: FlaskClient, auth: AuthActions, graded: Seeded) -> None:
    auth.login("nurse")
    page = client.get(f"/orders/{graded.order_id}/report").text
    assert f'href="/orders/{graded.order_id}/report.pdf"' in page
    assert "Download PDF" in page
    for sentence in RESEARCH_BANNER:
        assert sentence in " ".join(page.split())


def session_order(app: Flask, order_id: int) -> Order:
    with app.app_context():
        order = session().get(Order, order_id)
        assert order is not None
        return order


@pytest.mark.parametrize(("family", "given"), [
    ("Müller", "Zoë"), ("Παπαδόπουλος", "Γιώργος"), ("山田", "太郎"), ("Nguyễn", "Thị Ánh")])
def test_names_in_any_script_are_drawn(app: Flask, client: FlaskClient, family: str,
                                       given: str) -> None:
    patient_id = add_patient(app, "MRN-UNI", family, given)
    order_id = graded_with_photographs(app, client, patient_id)
    document = render(app, order_id)
    text = text_of(document)
    with app.app_context():
        patient = session().get(Patient, patient_id)
        assert patient is not None
        assert patient.display_name in text
    fonts = {font["/BaseFont"] for page in PdfReader(io.BytesIO(document)).pages
             for font in page["/Resources"]["/Font"].values()}
    assert any("DejaVuSans" in str(font) for font in fonts)
    if family == "山田":
        assert any("DroidSansFallback" in str(font) for font in fonts)


def test_it_stays_one_page_with_long_names_and_four_photographs(
        app: Flask, client: FlaskClient, auth: AuthActions, tmp_path: Path) -> None:
    # The longest name a DICOM Person Name holds (64 characters), in wide capitals.
    patient_id = add_patient(app, "MRN-" + "9" * 60,
                             "Wolfeschlegelsteinhausenbergerdorff-Mmmmmmmmm", "Wilhelm Maximum")
    order_id = graded_with_photographs(app, client, patient_id, grades=(4, 3))
    auth.login("ophthalmologist")
    signed = auth.post(f"/orders/{order_id}/review", data={
        "R_decision": "correct", "R_grade": "3", "R_maculopathy": "yes",
        "R_comment": "Neovascularisation not seen on closer look; " * 20,
        "L_decision": "approve"})
    assert signed.status_code == 302, signed.text
    document = render(app, order_id)
    assert pages(document) == 1
    reader = PdfReader(io.BytesIO(document))
    assert len(reader.pages[0].images) == 4
    text = text_of(document)
    assert "WOLFESCHLEGELSTEINHAUSENBERGERDORFF-MMMMMMMMM, Wilhelm Maximum" in text
    assert "Signed by Ophthalmologist Tester, ophthalmologist" in text
    assert "Refer urgently" in text
    assert "Corrected to" not in text and "corrected to Severe" in text


def test_a_photograph_that_cannot_be_fetched_is_said_so(app: Flask, client: FlaskClient) -> None:
    order_id = graded_with_photographs(app, client, add_patient(app))
    with app.app_context():
        order = session().get(Order, order_id)
        assert order is not None
        pictures = synthetic_pictures(order)
        missing = next(iter(pictures))
        pictures[missing] = None
        pictures[list(pictures)[1]] = Picture(b"not an image", "image/jpeg")
        document = render_report_pdf(build_report(order), pictures, timezone.utc, PRINTED_AT)
    assert pages(document) == 1
    assert len(PdfReader(io.BytesIO(document)).pages[0].images) == 2
    assert text_of(document).count("Photograph not available") == 2


def test_an_order_without_a_result_prints_its_header(app: Flask) -> None:
    order_id = add_order(app, add_patient(app))
    document = render(app, order_id, with_pictures=False)
    text = text_of(document)
    assert pages(document) == 1
    assert "DOE, Jane" in text and "No AI result yet." in text


def test_without_its_fonts_the_pdf_says_which_package_and_a_signing_changes_nothing(
        app: Flask, client: FlaskClient, auth: AuthActions, graded: Seeded, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_pdf, "FONT_FOLDERS", (tmp_path / "no-fonts",))
    report_pdf._font_path.cache_clear()
    try:
        auth.login("ophthalmologist")
        download = client.get(f"/orders/{graded.order_id}/report.pdf")
        assert download.status_code == 503
        assert "install the Debian package fonts-dejavu-core" in download.text
        signed = auth.post(f"/orders/{graded.order_id}/review", data={
            "R_decision": "approve", "L_decision": "approve"})
        assert signed.status_code == 503
        with app.app_context():
            assert session().scalars(select(Review)).all() == []
            assert session().scalars(select(ArchiveItem)).all() == []
    finally:
        report_pdf._font_path.cache_clear()


def save_screenshot(document: bytes, name: str) -> None:
    """Page 1 as ``<FOVEA_SCREENSHOTS>/<name>.png`` (pdftoppm) when that is set."""
    folder = os.environ.get("FOVEA_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    subprocess.run([require_tool("pdftoppm"), "-png", "-r", "80", "-singlefile", "-f", "1",
                    "-", str(Path(folder) / name)], input=document, check=True)


@pytest.fixture
def emr_pacs(tmp_path: Path, network_file: Path) -> Iterator[RunningPacs]:
    """The archive in this process on a free port, with its own index beside the EMR's."""
    settings = pacs_settings(network_file, tmp_path / "pacs")
    server = start_server(settings)
    yield RunningPacs(settings, server.server_address[1])
    server.shutdown()


def emr_peer_settings(network_file: Path, pacs_port: int) -> Settings:
    """The EMR's DICOM settings (FOVEA_EMR) with the archive's port as it listens."""
    path = network_file.with_name("emr-network.toml")
    path.write_text(network_file.read_text().replace("port = 0", f"port = {pacs_port}", 1))
    return load_settings("emr", ["--config", str(path)], environ={})


@pytest.fixture
def pacs_app(database_url: str, tmp_path: Path, network_file: Path,
             emr_pacs: RunningPacs) -> Iterator[Flask]:
    """The EMR as a DICOM peer of the running archive, one account per role."""
    app = create_app(make_config(database_url, tmp_path,
                                 dicom=emr_peer_settings(network_file, emr_pacs.port)))
    with app.app_context():
        db = session()
        for name, role in USERS.items():
            create_user(db, name, f"{name.title()} Tester", role, PASSWORD, FAST_HASH)
        db.commit()
    yield app
    database(app).engine.dispose()


#: The model of the conftest's results, as the AI node names it in its report.
ALGORITHM = AlgorithmIdentity("fovea-effnet", "1.0.0",
                              derived_uid("test", "fovea-effnet", "1.0.0"))


def screened_in_the_archive(app: Flask, client: FlaskClient, patient_id: int) -> int:
    """An order whose study the archive holds as the station and the AI node leave it:
    two synthetic photographs of each eye, then the AI's report; the result posted."""
    order_id = add_order(app, patient_id)
    eyes = four_photograph_eyes()
    with app.app_context():
        order = session().get(Order, order_id)
        assert order is not None
        patient = order.patient
        identity = DicomPatient(patient.mrn, patient.dicom_name, patient.birth_date,
                                patient.sex.value)
        request = Request(order.study_instance_uid, order.accession_number,
                          order.requested_procedure_id, order.scheduled_procedure_step_id)
    series = new_uid()
    photographs = {uid: build_ophthalmic_photograph(
        OphthalmicImage(Laterality(eye["laterality"]), jpeg=synthetic_jpeg(
            seed=number, grade=eye["grade"], laterality=eye["laterality"], size=512)),
        identity, request, Equipment(model_name="Fundus simulator"), series,
        instance_number=number + 1, sop_instance_uid=uid)
        for number, (eye, uid) in enumerate((eye, uid) for eye in eyes
                                            for uid in eye["source_sop_instance_uids"])}
    ai_report = build_dr_report([EyeFinding(
        eye["laterality"], photographs[uid], eye["grade"], tuple(eye["probabilities"]),
        eye["referable_probability"], eye["referable"],
        referral_threshold=eye["referral_threshold"], borderline=False,
        decisive=uid == eye["decisive_sop_instance_uid"])
        for eye in eyes for uid in eye["source_sop_instance_uids"]], ALGORITHM)
    store_instances(app.extensions["fovea_config"], [*photographs.values(), ai_report])
    move(client, order_id, *TO_AI_RUNNING)
    body = {**result_body(eyes=eyes), "sr_sop_instance_uid": str(ai_report.SOPInstanceUID)}
    response = client.post(f"/api/v1/orders/{order_id}/results", json=body,
                           headers=bearer("ai"))
    assert response.status_code == 201, response.json
    return order_id


def build_report_eyes(app: Flask, order_id: int) -> list[Any]:
    with app.app_context():
        order = session().get(Order, order_id)
        assert order is not None and order.current_result is not None
        return list(order.current_result.eyes)


def ai_report_uid(app: Flask, order_id: int) -> str:
    with app.app_context():
        order = session().get(Order, order_id)
        assert order is not None and order.current_result is not None
        return order.current_result.sr_sop_instance_uid


def test_the_signed_report_is_kept_in_the_pacs_as_encapsulated_pdf(
        pacs_app: Flask, emr_pacs: RunningPacs, tmp_path: Path) -> None:
    client = pacs_app.test_client()
    auth = AuthActions(client)
    patient_id = add_patient(pacs_app, family="Müller", given="Zoë")
    order_id = screened_in_the_archive(pacs_app, client, patient_id)
    auth.login("ophthalmologist")
    signed = auth.post(f"/orders/{order_id}/review", data={
        "R_decision": "approve", "L_decision": "approve"})
    assert signed.status_code == 302, signed.text
    with pacs_app.app_context():
        order = session().get(Order, order_id)
        assert order is not None
        study = order.study_instance_uid
        item = session().scalars(select(ArchiveItem).where(
            ArchiveItem.kind == ArchiveKind.REPORT_PDF)).one()
        assert (item.order_id, item.state, item.last_error) == (order_id, ArchiveState.SENT, "")

    out = tmp_path / "retrieved"
    out.mkdir()
    dcmtk("getscu", "-S", "-aet", "GETSCU", *emr_pacs.address(), "-od", str(out),
          "-k", "QueryRetrieveLevel=SERIES", "-k", f"StudyInstanceUID={study}",
          "-k", f"SeriesInstanceUID={report_pdf_series_uid(study)}")
    (path,) = out.iterdir()
    report = subprocess.run([require_tool("dciodvfy"), "-new", str(path)],
                            capture_output=True, text=True)
    assert [line for line in (report.stdout + report.stderr).splitlines()
            if line.startswith("Error")] == []
    ds = pydicom.dcmread(path)
    assert ds.SOPInstanceUID == item.sop_instance_uid
    with pacs_app.app_context():
        verified = session().scalars(select(ArchiveItem.sop_instance_uid).where(
            ArchiveItem.kind == ArchiveKind.VERIFIED_SR)).one()
    # Made from the photographs, the AI's report and the signing's verified report.
    assert {s.ReferencedSOPInstanceUID for s in ds.SourceInstanceSequence} == {
        *(uid for eye in build_report_eyes(pacs_app, order_id)
          for uid in eye.source_sop_instance_uids), ai_report_uid(pacs_app, order_id), verified}
    assert (ds.StudyInstanceUID, str(ds.PatientName), ds.BurnedInAnnotation) == (
        study, "Müller^Zoë", "YES")
    document = encapsulated_document(ds)
    assert pages(document) == 1
    text = text_of(document)
    assert "MÜLLER, Zoë" in text
    assert "Signed by Ophthalmologist Tester, ophthalmologist" in text and NOT_SIGNED not in text
    # The photographs came from the archive by C-GET: none is missing on the page.
    assert len(PdfReader(io.BytesIO(document)).pages[0].images) == 4
    assert "Photograph not available" not in text
    save_screenshot(document, "emr-report-pdf")

    # An amendment is a new document in the same series; the first stays.
    amended = auth.post(f"/orders/{order_id}/review", data={
        "R_decision": "correct", "R_grade": "1", "R_maculopathy": "no",
        "R_comment": "Only microaneurysms", "L_decision": "approve"})
    assert amended.status_code == 302, amended.text
    again = tmp_path / "again"
    again.mkdir()
    dcmtk("getscu", "-S", "-aet", "GETSCU", *emr_pacs.address(), "-od", str(again),
          "-k", "QueryRetrieveLevel=SERIES", "-k", f"StudyInstanceUID={study}",
          "-k", f"SeriesInstanceUID={report_pdf_series_uid(study)}")
    documents = sorted((pydicom.dcmread(p) for p in again.iterdir()),
                       key=lambda d: int(d.InstanceNumber))
    assert [int(d.InstanceNumber) for d in documents] == [1, 2]
    assert documents[0].SOPInstanceUID == ds.SOPInstanceUID
    amended_text = " ".join(text_of(encapsulated_document(documents[1])).split())
    assert "Ophthalmologist: corrected to Mild non-proliferative diabetic retinopathy" in (
        amended_text)
