"""The nurse's and the ophthalmologist's working lists in real headless Chromium: the
recall lists with a referral acknowledged, the possible-duplicate warning, and the
review queue in order of urgency (pictured for the README when screenshots are asked for).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from emr.database import session
from emr.models import AiResult, utcnow
from tests.screenshots import PHONE, screenshot

from .browser import log_in
from .conftest import add_patient, graded_order
from .test_browser import database_url, page, server  # noqa: F401 (fixtures)

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
expect = sync_api.expect


def _seed(app: Flask, client: FlaskClient) -> None:
    """Four screened patients: an urgent referral, a moderate one, a mild one whose
    re-screening is 13 months old (overdue), and a patient without retinopathy."""
    mild = graded_order(app, client, add_patient(app, "RC-OLD", "Overdue", "Olga"), 1, 0)
    graded_order(app, client, add_patient(app, "RC-SEV", "Severe", "Sam"), 3, 0)
    graded_order(app, client, add_patient(app, "RC-MOD", "Moderate", "Mo"), 2, 1)
    graded_order(app, client, add_patient(app, "RC-NON", "Clear", "Cleo"), 0, 0)
    with app.app_context():
        db = session()
        db.execute(update(AiResult).where(AiResult.order_id == mild)
                   .values(received_at=utcnow() - timedelta(days=400)))
        db.commit()


def test_recall_duplicate_warning_and_review_queue(app: Flask, client: FlaskClient,
                                                   page: Any) -> None:  # noqa: F811 (the fixture)
    _seed(app, client)
    p = page
    log_in(p, "nurse")
    p.goto("/dashboard")
    expect(p.locator("#dashboard-referrals")).to_have_text("2")
    expect(p.locator("#dashboard-overdue")).to_have_text("1")
    p.get_by_role("link", name="Open the recall lists").click()
    expect(p.get_by_role("heading", level=1)).to_have_text("Recall")
    referrals = p.locator("#recall-referrals tbody tr")
    expect(referrals).to_have_count(2)
    expect(referrals.first).to_contain_text("RC-SEV")  # urgent first
    expect(p.locator("#recall-overdue")).to_contain_text("RC-OLD")
    screenshot(p, "emr-recall")
    screenshot(p, "emr-recall-phone", viewport=PHONE)
    referrals.first.get_by_label("Note").fill("Booked with the eye clinic")
    referrals.first.get_by_role("button", name="Acknowledge referral").click()
    expect(p.get_by_text("acknowledged.", exact=False)).to_be_visible()
    expect(p.locator("#recall-referrals tbody tr")).to_have_count(1)
    expect(p.locator("#count-referrals")).to_have_text("1")
    with p.expect_download() as download:
        p.get_by_role("link", name="Download CSV").click()
    assert download.value.suggested_filename.startswith("fovea-recall-")

    p.goto("/patients/new")
    p.get_by_label("MRN (patient ID)").fill("RC-SEV-2")
    p.get_by_label("Family name").fill("severe")
    p.get_by_label("Given name").fill("Sam")
    p.get_by_label("Birth date").fill("1961-04-12")
    p.get_by_role("button", name="Save").click()
    warning = p.get_by_role("alert").filter(has_text="Possible duplicate")
    expect(warning).to_be_visible()
    expect(warning.get_by_role("link")).to_contain_text("RC-SEV")
    screenshot(p, "emr-possible-duplicate")
    p.get_by_label("This is a different person: register anyway").check()
    p.get_by_role("button", name="Save").click()
    expect(p.get_by_text("Patient registered.")).to_be_visible()
    p.get_by_role("button", name="Log out").click()

    log_in(p, "ophthalmologist")
    p.goto("/reviews")
    rows = p.locator("table.review-queue tbody tr")
    expect(rows).to_have_count(4)
    for row, mrn in zip(range(4), ("RC-SEV", "RC-MOD", "RC-OLD", "RC-NON")):
        expect(rows.nth(row)).to_contain_text(mrn)
    screenshot(p, "emr-review-queue-urgency")
