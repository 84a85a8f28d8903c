"""Signing in real headless Chromium puts the verified report in a real archive: the
ophthalmologist corrects one eye and signs, the report page says the signed report is
in the PACS, and DCMTK's getscu retrieves it from there for dciodvfy, with the printable
report as Encapsulated PDF beside it; the PDF downloads from the page. Synthetic
photographs only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.uid import EncapsulatedPDFStorage

from imaging_common.builders.encapsulated_pdf import encapsulated_document, report_pdf_series_uid
from tests.conftest import dcmtk
from tests.screenshots import screenshot

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
    screenshot(p, "emr-21-report-signed", focus=section)

    # The printable page downloads from the report, and the signed one is in the PACS.
    with p.expect_download() as download:
        p.get_by_role("link", name="Download PDF").click()
    saved = tmp_path / "report.pdf"
    download.value.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF-")
    out = tmp_path / "pdf"
    out.mkdir()
    dcmtk("getscu", "-S", "-aet", "GETSCU", "-aec", "FOVEA_PACS", "127.0.0.1",
          str(archive.server.server_address[1]), "-k", "QueryRetrieveLevel=SERIES",
          "-k", f"StudyInstanceUID={screening.study_uid}",
          "-k", f"SeriesInstanceUID={report_pdf_series_uid(screening.study_uid)}",
          "-od", str(out))
    (stored,) = [dcmread(path) for path in out.iterdir()]
    assert stored.SOPClassUID == EncapsulatedPDFStorage
    assert encapsulated_document(_validated(Path(stored.filename))).startswith(b"%PDF-")
