"""The EMR in real headless Chromium: a nurse logs in, registers a patient (after a
mistake), prescribes a screening, sees the order and logs out; then every page of
each role on the demo data, an ophthalmologist signing a review and an administrator
adding an account among them (pictured for the README by ``make screenshots``).

Needs Playwright (``pip install playwright``) and Debian's ``chromium`` package; the
test skips with a message where either is missing.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.screenshots import screenshot

from .browser import log_in, seed_demo_data
from .conftest import PASSWORD

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
expect = sync_api.expect


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'emr.db'}"


@pytest.fixture
def server(app: Flask) -> Iterator[str]:
    """The app behind a real HTTP server on a free port; bound (ready) once made."""
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def page(server: str) -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("Debian's chromium package is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox"])
        page = browser.new_page(base_url=server)
        page.set_default_timeout(15000)
        yield page
        browser.close()


def test_nurse_registers_prescribes_and_logs_out(page: Any, tmp_path: Path) -> None:
    p, expect = page, sync_api.expect
    p.goto("/")
    expect(p.get_by_role("heading", name="Log in")).to_be_visible()
    p.get_by_label("User name").fill("nurse")
    p.get_by_label("Password").fill(PASSWORD)
    p.get_by_role("button", name="Log in").click()
    expect(p.get_by_role("heading", name="Patients")).to_be_visible()

    p.get_by_role("link", name="Register a patient").click()
    p.get_by_label("MRN (patient ID)").fill("BR-001")
    p.get_by_label("Family name").fill("Browser")
    p.get_by_label("Given name").fill("Bea")
    p.get_by_label("Birth date").fill("2999-01-01")
    p.get_by_label("Sex").select_option("F")
    p.get_by_role("button", name="Save").click()
    expect(p.get_by_text("the birth date is in the future")).to_be_visible()
    expect(p.get_by_text("nothing was saved")).to_be_visible()

    p.get_by_label("Birth date").fill("1958-06-30")
    p.get_by_role("button", name="Save").click()
    expect(p.get_by_text("Patient registered.")).to_be_visible()
    expect(p.get_by_role("heading", name="BROWSER, Bea")).to_be_visible()

    p.get_by_role("link", name="Prescribe AI DR screening").click()
    when = (datetime.now() + timedelta(days=1)).replace(hour=9, minute=30)
    p.get_by_label("Appointment").fill(when.strftime("%Y-%m-%dT%H:%M"))
    p.get_by_label("Right eye (OD)").check()
    p.get_by_role("button", name="Prescribe").click()
    expect(p.get_by_text("Screening prescribed: accession number FV")).to_be_visible()
    expect(p.get_by_text("Scheduled Procedure Step ID")).to_be_visible()
    p.screenshot(path=str(tmp_path / "order.png"), full_page=True)

    p.get_by_role("link", name="Orders").click()
    expect(p.get_by_text("BROWSER, Bea (BR-001)")).to_be_visible()
    p.get_by_role("button", name="Log out").click()
    expect(p.get_by_text("You are logged out.")).to_be_visible()
    p.goto("/orders")
    expect(p.get_by_role("heading", name="Log in")).to_be_visible()


def test_every_page_of_the_emr_with_demo_data(app: Flask, page: Any) -> None:
    """Each role's pages on the demo data, each one checked (and pictured for the README)."""
    demo = seed_demo_data(app)
    p = page
    p.goto("/")
    expect(p.get_by_role("heading", name="Log in")).to_be_visible()
    screenshot(p, "emr-01-login")
    log_in(p, "nurse")
    _nurse_pages(p, demo.graded_order_id, demo.patient_id, demo.patient_heading)
    log_in(p, "ophthalmologist")
    _ophthalmologist_pages(p, demo.graded_order_id)
    log_in(p, "admin")
    _admin_pages(p)


def _nurse_pages(p: Any, order_id: int, patient_id: int, patient_heading: str) -> None:
    pages = [
        ("/dashboard", "Screening dashboard", "emr-02-dashboard"),
        ("/orders", "Orders", "emr-03-orders"),
        ("/patients", "Patients", "emr-04-patients"),
        ("/patients/new", "Register a patient", "emr-05-patient-new"),
        (f"/patients/{patient_id}", patient_heading, "emr-06-patient"),
        (f"/patients/{patient_id}/edit", f"Edit {patient_heading}", "emr-14-patient-edit"),
        (f"/patients/{patient_id}/orders/new", "Prescribe", "emr-07-order-new"),
        (f"/orders/{order_id}", "Order", "emr-08-order"),
        (f"/orders/{order_id}/report", "Screening report", "emr-09-report"),
    ]
    for path, heading, name in pages:
        p.goto(path)
        expect(p.get_by_role("heading", level=1)).to_contain_text(heading)
        screenshot(p, name)
    expect(p.get_by_text("research use only", exact=False).first).to_be_visible()
    expect(p.get_by_role("img", name="Heat map", exact=False)).to_have_count(2)
    expect(p.get_by_role("button", name="Sign the review")).to_have_count(0)

    p.goto("/admin/users")  # the error page, as a nurse meets it
    expect(p.get_by_role("heading", level=1)).to_have_text("Not allowed")
    screenshot(p, "emr-18-forbidden")
    p.get_by_role("button", name="Log out").click()
    expect(p.get_by_text("You are logged out.")).to_be_visible()


def _ophthalmologist_pages(p: Any, order_id: int) -> None:
    p.goto("/reviews")
    expect(p.get_by_role("heading", level=1)).to_contain_text("awaiting review")
    screenshot(p, "emr-10-reviews")
    p.goto(f"/orders/{order_id}/report")
    right = p.get_by_role("group", name="Right eye (OD)", exact=False)
    left = p.get_by_role("group", name="Left eye (OS)", exact=False)
    right.get_by_label("Approve the AI finding").check()
    left.get_by_label("Correct it").check()
    left.get_by_label("Corrected grade").select_option("1")
    left.get_by_label("Comment").fill("A few microaneurysms temporal to the fovea.")
    screenshot(p, "emr-11-review-form", focus=p.get_by_role("heading", name="Review", exact=True))
    p.get_by_role("button", name="Sign the review").click()
    expect(p.get_by_text("Review signed.")).to_be_visible()
    expect(p.get_by_text("Approved by Ophthalmologist Tester")).to_be_visible()
    expect(p.get_by_text("Corrected to: Mild non-proliferative diabetic retinopathy")
           ).to_be_visible()
    expect(p.get_by_role("heading", name="Result (worse eye, reviewed)")).to_be_visible()
    screenshot(p, "emr-15-report-reviewed")
    p.get_by_role("button", name="Log out").click()


def _admin_pages(p: Any) -> None:
    for path, heading, name in (("/admin/users", "Users", "emr-12-users"),
                                ("/audit", "Audit log", "emr-13-audit")):
        p.goto(path)
        expect(p.get_by_role("heading", level=1)).to_contain_text(heading)
        screenshot(p, name)
    expect(p.get_by_role("cell", name="review.create").first).to_be_visible()

    p.goto("/admin/users")
    p.get_by_role("link", name="Add a user").click()
    expect(p.get_by_role("heading", level=1)).to_have_text("Add a user")
    p.get_by_label("User name").fill("tina")
    p.get_by_label("Full name").fill("Tina Technician")
    p.get_by_label("Role").select_option("technician")
    p.get_by_label("Password", exact=True).fill("slit lamp and fundus 2026")
    p.get_by_label("Repeat the password").fill("slit lamp and fundus 2026")
    screenshot(p, "emr-16-user-new")
    p.get_by_role("button", name="Save").click()
    expect(p.get_by_text("Account tina created.")).to_be_visible()

    p.get_by_role("link", name="tina", exact=True).click()
    expect(p.get_by_role("heading", level=1)).to_have_text("Edit tina")
    expect(p.get_by_label("Full name")).to_have_value("Tina Technician")
    expect(p.get_by_label("Active (may log in)")).to_be_checked()
    screenshot(p, "emr-17-user-edit")
