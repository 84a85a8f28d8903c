"""The station checks each photograph's eye before sending: a swapped pair is held
back with a warning, and the technician sends it as given, swaps it, or puts it aside.

Uses real photographs of both eyes (../shared/data/fundus-dr600; skipped where
absent): the station's own test pictures are built so that no eye can be told.
"""

from __future__ import annotations

import html
import io
import re

import pytest
from flask import Flask
from pydicom import dcmread
from pydicom.dataset import Dataset
from werkzeug.test import TestResponse

from modality_scu.models import ProcedureState

from .conftest import (AuthActions, Order, context, dciodvfy_errors, load_examination,
                       real_photograph, started_examination)

ORDER = Order(accession_number="ACC-LATERALITY-1")


@pytest.fixture
def exam(app: Flask, auth: AuthActions) -> int:
    auth.login()
    return started_examination(app, ORDER)


def _upload(auth: AuthActions, exam: int, right: bytes, left: bytes) -> TestResponse:
    return auth.post(f"/examinations/{exam}/photographs", {
        "seed": "7", "right_grade": "0", "left_grade": "0",
        "right_files": [(io.BytesIO(right), "given-as-right.jpg")],
        "left_files": [(io.BytesIO(left), "given-as-left.jpg")]},
        content_type="multipart/form-data")


def _swapped(auth: AuthActions, exam: int) -> str:
    """Upload the left eye's photograph as the right eye's and the other way round."""
    held = _upload(auth, exam, right=real_photograph("L"), left=real_photograph("R"))
    assert held.status_code == 200, held.text
    return held.text


def _decide(auth: AuthActions, exam: int, page: str, **choices: str) -> TestResponse:
    match = re.search(r'name="token" value="([^"]+)"', page)
    assert match, "no held set on the page"
    return auth.post(f"/examinations/{exam}/photographs/checked",
                     {"token": match.group(1), **choices}, follow_redirects=True)


def _outbox(app: Flask) -> dict[str, Dataset]:
    """The outbox's images by their Image Laterality."""
    files = sorted(context(app).config.outbox_dir.glob("*.dcm"))
    for path in files:
        assert dciodvfy_errors(path) == []
    return {ds.ImageLaterality: ds for ds in map(dcmread, files)}


def _nothing_sent(app: Flask, exam: int) -> None:
    procedure = load_examination(app, exam)
    assert procedure.state == ProcedureState.IN_PROGRESS and procedure.images == []
    assert _outbox(app) == {}


def test_photographs_of_the_right_eyes_are_sent_at_once(app: Flask, auth: AuthActions,
                                                        exam: int) -> None:
    sent = _upload(auth, exam, right=real_photograph("R"), left=real_photograph("L"))
    assert sent.status_code == 302, sent.text
    assert set(_outbox(app)) == {"R", "L"}
    assert all("ImageComments" not in ds for ds in _outbox(app).values())


def test_a_swapped_pair_is_held_back_with_the_reasons(app: Flask, auth: AuthActions,
                                                      exam: int) -> None:
    page = _swapped(auth, exam)
    assert "Check the eyes before sending" in page
    assert "2 photograph(s) look like the other eye." in page and "Nothing has been sent." in page
    assert "given as the right eye, but it looks like a left eye" in page
    assert "given as the left eye, but it looks like a right eye" in page
    assert page.count(f'src="/examinations/{exam}/held/') == 2  # to look at
    for index in (0, 1):
        thumbnail = auth.client.get(f"/examinations/{exam}/held/{index}.png")
        assert thumbnail.status_code == 200 and thumbnail.mimetype == "image/png"
        assert thumbnail.headers["Cache-Control"] == "private, no-store"
    assert "given-as-right.jpg" in page and "given-as-left.jpg" in page
    _nothing_sent(app, exam)
    again = auth.client.get(f"/examinations/{exam}").text  # kept while the page is left
    assert "Check the eyes before sending" in again
    assert context(app).holding.get(exam) is not None


def test_swapping_sends_each_photograph_as_the_eye_it_shows(app: Flask, auth: AuthActions,
                                                            exam: int) -> None:
    page = _swapped(auth, exam)
    done = _decide(auth, exam, page, action="swap")
    assert "2 photograph(s) queued for FOVEA_PACS" in done.text
    images = _outbox(app)
    for eye, given in (("L", "right"), ("R", "left")):
        other = "left" if eye == "L" else "right"
        assert images[eye].ImageComments.startswith(
            f"Laterality set by the technician: given as the {given} eye, sent as the "
            f"{other} eye after the station's check")
    assert context(app).holding.get(exam) is None
    assert load_examination(app, exam).state == ProcedureState.SENDING


def test_the_technician_may_go_on_and_the_images_say_so(app: Flask, auth: AuthActions,
                                                        exam: int) -> None:
    page = _swapped(auth, exam)
    done = _decide(auth, exam, page, action="send")  # the eyes as given
    assert "2 photograph(s) queued" in done.text
    images = _outbox(app)
    assert images["R"].ImageComments.startswith(
        "Laterality kept by the technician after the station's check, which found the "
        "photograph given as the right eye, but it looks like a left eye")
    assert "SIMULATED" not in images["R"].ImageComments


def test_a_choice_that_breaks_the_order_is_refused_and_the_set_kept(
        app: Flask, auth: AuthActions, exam: int) -> None:
    page = _swapped(auth, exam)
    both_left = _decide(auth, exam, page, action="send", **{"eye-0": "L", "eye-1": "L"})
    assert both_left.status_code == 422
    assert "No photograph of the right eye (OD)" in both_left.text
    assert "Check the eyes before sending" in both_left.text
    _nothing_sent(app, exam)
    odd = _decide(auth, exam, page, action="send", **{"eye-0": "X"})
    assert odd.status_code == 422 and "not 'X'" in html.unescape(odd.text)


def test_putting_aside_or_a_stale_decision_sends_nothing(app: Flask, auth: AuthActions,
                                                         exam: int) -> None:
    page = _swapped(auth, exam)
    aside = auth.post(f"/examinations/{exam}/photographs/aside", follow_redirects=True)
    assert "The photographs were put aside; nothing was sent." in aside.text
    assert "Check the eyes before sending" not in aside.text
    stale = _decide(auth, exam, page, action="send")
    assert "were sent or put aside already; nothing was sent now" in stale.text
    _nothing_sent(app, exam)
    newer = _swapped(auth, exam)
    assert _decide(auth, exam, page, action="swap").status_code == 200  # the older page's token
    _nothing_sent(app, exam)
    assert "2 photograph(s) queued" in _decide(auth, exam, newer, action="swap").text


def test_cancelling_the_examination_forgets_the_held_set(app: Flask, auth: AuthActions,
                                                         exam: int) -> None:
    _swapped(auth, exam)
    auth.post(f"/examinations/{exam}/cancel", {"reason": "UNSPECIFIED"})
    assert context(app).holding.get(exam) is None
    assert _outbox(app) == {}
