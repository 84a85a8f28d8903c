"""The printable report: one page of the report page's content, downloaded by a logged-in
user, names in any script, photographs or a word where one cannot be had."""

from __future__ import annotations

import io
import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import select

from emr.database import session
from emr.models import AuditEntry, Order, Patient
from emr.report_pdf import (NOT_SIGNED, RESEARCH_BANNER, Picture, printed_photographs,
                            render_report_pdf)
from emr.reports import build_report
from imaging_common.uids import new_uid
from modality_scu.synthetic import synthetic_jpeg
from tests.conftest import require_tool

from .conftest import (TO_AI_RUNNING, AuthActions, Seeded, add_order, add_patient, bearer,
                       eye_body, move, result_body)
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
    save_screenshot(document, "report-pdf")


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


def save_screenshot(document: bytes, name: str) -> None:
    """Page 1 as ``<FOVEA_SCREENSHOTS>/<name>.png`` (pdftoppm) when that is set."""
    folder = os.environ.get("FOVEA_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    subprocess.run([require_tool("pdftoppm"), "-png", "-r", "80", "-singlefile", "-f", "1",
                    "-", str(Path(folder) / name)], input=document, check=True)
