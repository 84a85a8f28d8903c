"""A technician in real headless Chromium: log in, pick the patient from today's
worklist, give a wrong file then the right photographs, and watch them reach the
archive until the examination completes; use the simulated capture (demo mode),
and cancel an examination; give a swapped pair of (synthetic) photographs and swap them
back after the station's warning; see no simulated capture outside demo mode
(each page pictured for the README by ``make screenshots``).

Needs Playwright and Debian's ``chromium`` package; skips with a message where
either is missing.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from werkzeug.serving import make_server

from modality_scu.database import database
from modality_scu.synthetic import synthetic_jpeg
from tests.screenshots import PHONE, screenshot

from tests.identity import PASSWORD, running_identity_provider

from .conftest import (
    context,
    encoded,
    free_port,
    fundus_like,
    jpeg,
    make_station,
    running_pacs,
    station_config,
    write_network,
)
from .peers import FAMILY, GIVEN, Peers, running_peers

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[Peers]:
    with running_peers(tmp_path / "peers") as running:
        yield running


@pytest.fixture
def page(tmp_path: Path, peers: Peers) -> Iterator[Any]:
    """The station of a network in demo mode (as ``make run`` starts it)."""
    yield from _browse(tmp_path, peers, demo=True)


@pytest.fixture
def plain_page(tmp_path: Path, peers: Peers) -> Iterator[Any]:
    """The station of a network not in demo mode (as in production)."""
    yield from _browse(tmp_path, peers, demo=False)


def _browse(tmp_path: Path, peers: Peers, demo: bool) -> Iterator[Any]:
    """The station behind a real HTTP server with its sender running, the archive up,
    and a browser on its pages."""
    if CHROMIUM is None:
        pytest.skip("Debian's chromium package is not installed (apt-get install chromium)")
    pacs_port, station_port = free_port(), free_port()
    network = write_network(tmp_path / "network.toml", pacs_port, peers.worklist_port,
                            emr_port=peers.emr_port)
    station_url = f"http://127.0.0.1:{station_port}"
    with running_identity_provider(tmp_path / "identity", station_url=station_url) as emr:
        yield from _serve(tmp_path, network, pacs_port, station_port,
                          {**emr.environ("station"), **({"FOVEA_DEMO": "1"} if demo else {})})


def _serve(tmp_path: Path, network: Path, pacs_port: int, station_port: int,
           environ: dict[str, str]) -> Iterator[Any]:
    app = make_station(station_config(network, tmp_path / "station", **environ))
    context(app).sender.start()
    # The archive binds its port before anything else may take it.
    with running_pacs(network, tmp_path / "pacs", pacs_port):
        http = make_server("127.0.0.1", station_port, app, threaded=True)
        thread = threading.Thread(target=http.serve_forever, daemon=True)
        thread.start()
        try:
            with sync_api.sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                     args=["--no-sandbox"])
                page = browser.new_page(base_url=f"http://127.0.0.1:{http.server_port}")
                page.set_default_timeout(15000)
                yield page
                browser.close()
        finally:
            http.shutdown()
            thread.join(10)
            context(app).sender.stop()
            database(app).dispose()


def test_technician_photographs_a_patient_from_the_worklist(page: Any, peers: Peers,
                                                            tmp_path: Path) -> None:
    order = peers.schedule()
    right, left, wrong = tmp_path / "od.jpg", tmp_path / "os.png", tmp_path / "notes.txt"
    right.write_bytes(jpeg(1))
    left.write_bytes(encoded(fundus_like(2), "PNG"))
    wrong.write_text("not a photograph")
    p, expect = page, sync_api.expect
    _log_in(p, picture="station-01-login")
    row = p.get_by_role("row").filter(has_text=order.accession_number)
    expect(row.get_by_text(f"{FAMILY}, {GIVEN}")).to_be_visible()
    screenshot(p, "station-02-worklist")
    row.get_by_role("button", name="Start").click()
    expect(p.get_by_text("Examination started: the worklist has been told")).to_be_visible()
    screenshot(p, "station-03-examination")

    p.get_by_label("Photographs of the right eye (OD)").set_input_files(str(wrong))
    p.get_by_label("Photographs of the left eye (OS)").set_input_files(str(left))
    p.get_by_role("button", name="Send the photographs").click()
    expect(p.get_by_text("“notes.txt” is not an image")).to_be_visible()
    expect(p.get_by_text("Nothing was sent.")).to_be_visible()
    screenshot(p, "station-04-refused-upload")

    p.get_by_label("Photographs of the right eye (OD)").set_input_files(str(right))
    p.get_by_label("Photographs of the left eye (OS)").set_input_files(str(left))
    p.get_by_role("button", name="Send the photographs").click()
    expect(p.get_by_text("2 photograph(s) queued for FOVEA_PACS")).to_be_visible()
    # The page reloads itself until the archive has committed and the MPPS is sent.
    expect(p.get_by_text("COMPLETED sent, listing 2 image(s)")).to_be_visible(timeout=20000)
    expect(p.get_by_text("Stored and committed")).to_have_count(2)
    screenshot(p, "station-05-completed")
    assert peers.order_state(order.id)[0] == "acquired"
    p.get_by_role("link", name="Outbox").click()
    expect(p.get_by_role("heading", name="Outbox")).to_be_visible()
    screenshot(p, "station-06-outbox")


def test_technician_uses_the_simulated_capture_and_cancels_an_examination(
        page: Any, peers: Peers, tmp_path: Path) -> None:
    simulated, cancelled = peers.schedule(laterality="right"), peers.schedule(laterality="left")
    p, expect = page, sync_api.expect
    _log_in(p)
    _start(p, simulated.accession_number)
    right = p.get_by_role("group", name="Right eye (OD)")
    right.get_by_label("Simulated capture of the right eye").check()
    right.get_by_label("Simulated severity").select_option("2")
    expect(p.get_by_role("group", name="Left eye (OS): not ordered")).to_be_visible()
    photo = tmp_path / "od.jpg"
    photo.write_bytes(jpeg(5))
    right.get_by_label("Photographs of the right eye (OD)").set_input_files(str(photo))
    p.get_by_role("button", name="Send the photographs").click()
    expect(p.get_by_text("The right eye (OD) has both a simulated capture and uploaded "
                         "photographs")).to_be_visible()
    expect(p.get_by_text("Nothing was sent.")).to_be_visible()
    right.get_by_label("Photographs of the right eye (OD)").set_input_files([])
    right.get_by_label("Simulated capture of the right eye").check()
    right.get_by_label("Simulated severity").select_option("2")
    p.get_by_role("button", name="Send the photographs").click()
    expect(p.get_by_text("1 photograph(s) queued for FOVEA_PACS")).to_be_visible()
    expect(p.get_by_text("COMPLETED sent, listing 1 image(s)")).to_be_visible(timeout=20000)
    expect(p.get_by_role("cell", name="simulated capture (severity 2")).to_be_visible()
    screenshot(p, "station-07-simulated-capture")

    p.get_by_role("link", name="Back to the worklist").click()
    _start(p, cancelled.accession_number)
    p.get_by_label("Reason").select_option("PATIENT_CONDITION")
    p.get_by_role("button", name="Cancel the examination").click()
    expect(p.get_by_text("Examination cancelled; the worklist is being told")).to_be_visible()
    expect(p.get_by_text("Cancelled by the technician: Patient condition prevented "
                         "continuing")).to_be_visible()
    expect(p.get_by_text("DISCONTINUED sent at")).to_be_visible(timeout=20000)
    screenshot(p, "station-08-cancelled")
    assert peers.order_state(simulated.id)[0] == "acquired"
    assert peers.order_state(cancelled.id)[0] == "discontinued"


def test_a_swapped_pair_is_caught_before_sending_and_swapped_back(
        page: Any, peers: Peers, tmp_path: Path) -> None:
    order = peers.schedule()
    given_right, given_left = tmp_path / "first.jpg", tmp_path / "second.jpg"
    # Synthetic pictures with an optic disc (the check reads real ones as well:
    # tests/modality_scu/test_laterality_check.py); real photographs never go into a screenshot.
    given_right.write_bytes(synthetic_jpeg(seed=5, grade=0, laterality="L", size=512))
    given_left.write_bytes(synthetic_jpeg(seed=6, grade=0, laterality="R", size=512))
    p, expect = page, sync_api.expect
    _log_in(p)
    _start(p, order.accession_number)
    p.get_by_label("Photographs of the right eye (OD)").set_input_files(str(given_right))
    p.get_by_label("Photographs of the left eye (OS)").set_input_files(str(given_left))
    p.get_by_role("button", name="Send the photographs").click()
    expect(p.get_by_role("heading", name="Check the eyes before sending")).to_be_visible()
    warning = p.get_by_role("alert")
    expect(warning).to_contain_text("2 photograph(s) look like the other eye.")
    expect(warning).to_contain_text("Nothing has been sent.")
    rows = p.locator("table.held tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("given as the right eye, but it looks like a left eye")
    expect(rows.nth(0).get_by_role("img")).to_be_visible()
    expect(p.get_by_label("Send first.jpg as")).to_have_value("R")
    screenshot(p, "station-09-laterality-check")
    p.get_by_role("button", name="Swap right and left, then send").click()
    expect(p.get_by_text("2 photograph(s) queued for FOVEA_PACS")).to_be_visible()
    expect(p.get_by_text("COMPLETED sent, listing 2 image(s)")).to_be_visible(timeout=20000)
    stored = {ds.ImageLaterality: ds for ds in map(dcmread, (tmp_path / "pacs").rglob("*.dcm"))}
    assert set(stored) == {"R", "L"}
    assert stored["L"].ImageComments.startswith("Laterality set by the technician: given as "
                                                "the right eye, sent as the left eye")
    assert peers.order_state(order.id)[0] == "acquired"


def test_outside_demo_mode_there_is_no_simulated_capture(plain_page: Any, peers: Peers) -> None:
    order = peers.schedule()
    p, expect = plain_page, sync_api.expect
    _log_in(p)
    _start(p, order.accession_number)
    expect(p.get_by_label("Photographs of the right eye (OD)")).to_be_visible()
    expect(p.get_by_text("Simulated capture")).to_have_count(0)
    expect(p.get_by_label("Simulated severity")).to_have_count(0)
    expect(p.get_by_label("Simulation seed")).to_have_count(0)


def test_every_page_is_usable_at_phone_width_with_thumbnails(
        page: Any, peers: Peers, tmp_path: Path) -> None:
    """At 390 px no page scrolls sideways and the main buttons are visible; the
    technician looks at what will be sent (a simulated capture among them), sends
    it, and sees what was sent, per eye, with the file names."""
    order = peers.schedule()
    photo = tmp_path / "left-eye.jpg"
    photo.write_bytes(synthetic_jpeg(seed=8, grade=0, laterality="L", size=512))
    p, expect = page, sync_api.expect
    p.set_viewport_size(PHONE)
    p.goto("/")
    _fits_a_phone(p, "Log in")
    _log_in(p)
    _fits_a_phone(p, "Start", picture="station-10-phone-worklist")
    _start(p, order.accession_number)
    _fits_a_phone(p, "Send the photographs")
    right = p.get_by_role("group", name="Right eye (OD)")
    right.get_by_label("Simulated capture of the right eye").check()
    right.get_by_label("Simulated severity").select_option("1")
    p.get_by_label("Photographs of the left eye (OS)").set_input_files(str(photo))
    p.get_by_role("button", name="Look at them first (nothing is sent)").click()
    expect(p.get_by_role("heading", name="What will be sent")).to_be_visible()
    rows = p.locator("table.held tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("simulated capture (severity 1)")
    expect(rows.nth(1)).to_contain_text("left-eye.jpg")
    _thumbnails_shown(p, "table.held img.thumbnail", 2)
    _fits_a_phone(p, "Send with the eyes chosen above", picture="station-11-phone-preview")
    screenshot(p, "station-12-preview")
    p.set_viewport_size(PHONE)
    p.get_by_role("button", name="Send with the eyes chosen above").click()
    expect(p.get_by_text("COMPLETED sent, listing 2 image(s)")).to_be_visible(timeout=20000)
    sent = p.locator(".sent-eye")
    expect(sent).to_have_count(2)
    expect(sent.nth(0)).to_contain_text("simulated capture (severity 1")
    expect(sent.nth(1)).to_contain_text("left-eye.jpg")
    _thumbnails_shown(p, ".sent-eye img.thumbnail", 2)
    _fits_a_phone(p, None, picture="station-13-phone-sent")
    screenshot(p, "station-14-sent", focus=p.get_by_role("heading", name="What was sent"))
    p.set_viewport_size(PHONE)
    p.goto("/outbox")
    _fits_a_phone(p, None)


def _fits_a_phone(p: Any, button: str | None, picture: str | None = None) -> None:
    """No sideways scrolling at :data:`PHONE` width, and ``button`` is visible."""
    assert p.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], p.url
    if button:
        found = p.get_by_role("button", name=button).first
        found.scroll_into_view_if_needed()
        sync_api.expect(found).to_be_in_viewport()
    if picture:
        screenshot(p, picture, viewport=PHONE)


def _thumbnails_shown(p: Any, selector: str, count: int) -> None:
    """``count`` thumbnails, each loaded (the server made and served it)."""
    images = p.locator(selector)
    sync_api.expect(images).to_have_count(count)
    for index in range(count):
        images.nth(index).scroll_into_view_if_needed()
        p.wait_for_function("img => img.complete && img.naturalWidth > 0",
                            arg=images.nth(index).element_handle())


def _log_in(p: Any, picture: str | None = None) -> None:
    """Log in as the technician at the EMR the station sends them to; picture that page
    if asked."""
    p.goto("/")
    sync_api.expect(p.get_by_role("heading", name="Log in")).to_be_visible()
    if picture:
        screenshot(p, picture)
    p.get_by_label("User name").fill("tech")
    p.get_by_label("Password").fill(PASSWORD)
    p.get_by_role("button", name="Log in").click()
    sync_api.expect(p.get_by_role("heading", name="Today's worklist")).to_be_visible()


def _start(p: Any, accession_number: str) -> None:
    """Start the examination of the worklist's row with ``accession_number``."""
    p.get_by_role("row").filter(has_text=accession_number).get_by_role(
        "button", name="Start").click()
    sync_api.expect(p.get_by_text("Examination started: the worklist has been told")
                    ).to_be_visible()
