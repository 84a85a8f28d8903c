"""Thumbnails on the examination page: of what will be sent (the technician asks to
look first, the simulated capture included) and of what was sent, per eye, with
file names; made on the server and served to the logged-in technician only."""

from __future__ import annotations

import io
import re

import pytest
from flask import Flask
from PIL import Image

from modality_scu.models import ProcedureState

from .conftest import (AuthActions, Order, context, jpeg, load_examination,
                       started_examination)

ORDER = Order(accession_number="ACC-THUMBNAILS-1")


@pytest.fixture
def exam(demo_app: Flask) -> tuple[AuthActions, int]:
    auth = AuthActions(demo_app.test_client())
    auth.login()
    return auth, started_examination(demo_app, ORDER)


def _preview(auth: AuthActions, exam: int) -> str:
    page = auth.post(f"/examinations/{exam}/photographs", {
        "seed": "1234", "right_grade": "2", "left_grade": "0", "right_simulate": "y",
        "left_files": [(io.BytesIO(jpeg(2)), "os-first.jpg")], "action": "preview"},
        content_type="multipart/form-data")
    assert page.status_code == 200, page.text
    return page.text


def _thumbnail(auth: AuthActions, url: str) -> Image.Image:
    response = auth.client.get(url)
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert response.headers["Cache-Control"] == "private, no-store"
    picture = Image.open(io.BytesIO(response.data))
    assert max(picture.size) <= 200
    return picture


def test_looking_first_shows_each_eye_and_sends_nothing(
        demo_app: Flask, exam: tuple[AuthActions, int]) -> None:
    auth, procedure_id = exam
    page = _preview(auth, procedure_id)
    assert "What will be sent" in page and "Nothing has been sent yet." in page
    assert "os-first.jpg" in page and "simulated capture (severity 2)" in page
    urls = re.findall(r'src="(/examinations/\d+/held/\d+\.png)"', page)
    assert len(urls) == 2
    assert page.index('data-eye="R"') < page.index('data-eye="L"')  # right eye first
    for url in urls:
        _thumbnail(auth, url)
    assert load_examination(demo_app, procedure_id).state == ProcedureState.IN_PROGRESS
    assert not list(context(demo_app).config.outbox_dir.glob("*.dcm"))
    assert demo_app.test_client().get(urls[0]).status_code == 302  # to the log-in page
    assert auth.client.get(f"/examinations/{procedure_id}/held/9.png").status_code == 404


def test_what_was_sent_is_shown_per_eye_with_its_name(
        demo_app: Flask, exam: tuple[AuthActions, int]) -> None:
    auth, procedure_id = exam
    page = _preview(auth, procedure_id)
    token = re.search(r'name="token" value="([^"]+)"', page)
    assert token
    sent = auth.post(f"/examinations/{procedure_id}/photographs/checked",
                     {"token": token.group(1), "action": "send"}, follow_redirects=True)
    assert "2 photograph(s) queued" in sent.text
    assert "What was sent" in sent.text and "os-first.jpg" in sent.text
    assert "simulated capture (severity 2, seed 1234)" in sent.text
    urls = re.findall(r'src="(/examinations/\d+/images/\d+\.png)"', sent.text)
    assert len(urls) == 2
    for url in urls:
        _thumbnail(auth, url)
    assert demo_app.test_client().get(urls[0]).status_code == 302
    other = started_examination(demo_app, Order(accession_number="ACC-THUMBNAILS-2"))
    image_id = urls[0].rsplit("/", 1)[1]
    assert auth.client.get(f"/examinations/{other}/images/{image_id}").status_code == 404
