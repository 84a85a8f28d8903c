"""A technician in real headless Chromium: log in, pick the patient from today's
worklist, give a wrong file then the right photographs, and watch them reach the
archive until the examination completes; use the simulated capture, and cancel an
examination (each page pictured for the README by ``make screenshots``).

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
from werkzeug.serving import make_server

from modality_scu.database import database
from tests.screenshots import screenshot

from .conftest import (
    PASSWORD,
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
    """The station behind a real HTTP server with its sender running, the archive up,
    and a browser on its pages."""
    if CHROMIUM is None:
        pytest.skip("Debian's chromium package is not installed (apt-get install chromium)")
    pacs_port = free_port()
    network = write_network(tmp_path / "network.toml", pacs_port, peers.worklist_port,
                            emr_port=peers.emr_port)
    app = make_station(station_config(network, tmp_path / "station"))
    context(app).sender.start()
    # The archive binds its port before anything else may take it.
    with running_pacs(network, tmp_path / "pacs", pacs_port):
        http = make_server("127.0.0.1", 0, app, threaded=True)
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
        page: Any, peers: Peers) -> None:
    simulated, cancelled = peers.schedule(laterality="right"), peers.schedule(laterality="left")
    p, expect = page, sync_api.expect
    _log_in(p)
    _start(p, simulated.accession_number)
    right = p.get_by_role("group", name="Right eye (OD)")
    right.get_by_label("Simulated capture of the right eye").check()
    right.get_by_label("Simulated severity").select_option("2")
    expect(p.get_by_role("group", name="Left eye (OS): not ordered")).to_be_visible()
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


def _log_in(p: Any, picture: str | None = None) -> None:
    """Log in as the technician from the log-in page; picture that page if asked."""
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
