"""Signing in real headless Chromium puts the verified report in a real archive: the
ophthalmologist corrects one eye and signs, the report page says the signed report is
in the PACS, and DCMTK's getscu retrieves it from there for dciodvfy. Synthetic
photographs only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import PASSWORD
from .photographs import Archive
from .test_browser import database_url, page, server  # noqa: F401 (fixtures)
from .test_signed_report import (Screening, _retrieve, _severity, _validated,  # noqa: F401
                                 archive, config, screening)

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
expect = sync_api.expect


def test_a_review_signed_in_the_browser_reaches_the_pacs(
        archive: Archive, screening: Screening,  # noqa: F811 (the fixtures)
        page: Any, tmp_path: Path) -> None:  # noqa: F811 (the fixture)
    p = page
    p.goto("/login")
    p.get_by_label("User name").fill("ophthalmologist")
    p.get_by_label("Password").fill(PASSWORD)
    p.get_by_role("button", name="Log in").click()
    expect(p.get_by_role("button", name="Log out")).to_be_visible()
    p.goto(f"/orders/{screening.order_id}/report")
    p.get_by_role("group", name="Right eye (OD)", exact=False) \
        .get_by_label("Approve the AI finding").check()
    left = p.get_by_role("group", name="Left eye (OS)", exact=False)
    left.get_by_label("Correct it").check()
    left.get_by_label("Corrected grade").select_option("1")
    left.get_by_label("Comment").fill("A few microaneurysms temporal to the fovea.")
    p.get_by_role("button", name="Sign the review").click()
    expect(p.get_by_text("Review signed.")).to_be_visible()

    section = p.get_by_role("region", name="Signed report in the PACS")
    expect(section).to_contain_text("Signed report in the PACS since")
    uid = section.locator("code").first.inner_text()
    document = _validated(_retrieve(archive, screening.study_uid, uid, tmp_path / "got"))
    assert document.VerificationFlag == "VERIFIED"
    assert str(document.VerifyingObserverSequence[0].VerifyingObserverName) == \
        "Ophthalmologist Tester^"
    assert _severity(document, "Left eye") == "Mild nonproliferative diabetic retinopathy"
    assert _severity(document, "Right eye") == "Moderate nonproliferative diabetic retinopathy"
