"""The ophthalmologist's photograph viewer in real headless Chromium, the photographs
fetched from a real archive: both eyes side by side, zoom and pan, the heat-map layer
and its opacity, the previous screening beside the current one, and the page at a
phone's width (pictured for the README when screenshots are asked for).
Synthetic photographs only.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from emr.config import EmrConfig
from emr.models import utcnow
from tests.screenshots import PHONE, screenshot

from .conftest import PASSWORD, add_patient
from .photographs import photographed_screening
from .test_browser import page, server  # noqa: F401 (fixtures)
from .test_photographs import archive, config, database_url  # noqa: F401 (fixtures)

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
expect = sync_api.expect


def test_the_photographs_zoom_show_the_heat_map_and_the_previous_screening(
        app: Flask, client: FlaskClient, config: EmrConfig,  # noqa: F811 (the fixture)
        page: Any) -> None:  # noqa: F811 (the fixture)
    patient = add_patient(app, "PH-001", "Viewer", "Vera")
    photographed_screening(app, client, config, patient, grades=(1, 0), seed=20,
                           scheduled_at=utcnow() - timedelta(days=400))
    now = photographed_screening(app, client, config, patient, grades=(2, 0), seed=30)
    p = page
    p.set_viewport_size({"width": 1280, "height": 900})
    p.goto("/login")
    p.get_by_label("User name").fill("ophthalmologist")
    p.get_by_label("Password").fill(PASSWORD)
    p.get_by_role("button", name="Log in").click()
    expect(p.get_by_role("button", name="Log out")).to_be_visible()
    p.goto(f"/orders/{now.order_id}/report")
    expect(p.get_by_role("heading", level=1)).to_have_text("Screening report")

    right, left = p.locator("section.eye").nth(0), p.locator("section.eye").nth(1)
    right_box, left_box = right.bounding_box(), left.bounding_box()
    assert right_box["y"] == left_box["y"] and right_box["x"] < left_box["x"]  # side by side
    photos = p.locator("img.viewer-photo")
    expect(photos).to_have_count(8)  # two of each eye, now and at the previous screening
    for i in range(8):  # every one arrived, at full resolution
        assert photos.nth(i).evaluate("img => img.complete && img.naturalWidth") == 512

    first = right.locator("figure.viewer").first
    stage = first.locator(".viewer-stage")
    first.get_by_role("button", name="Zoom in").click()
    first.get_by_role("button", name="Zoom in").click()
    expect(first.locator(".viewer-scale")).to_have_text("200%")
    assert stage.evaluate("e => new DOMMatrix(e.style.transform).a") == \
        pytest.approx(2)
    box = stage.bounding_box()
    p.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    p.mouse.down()
    p.mouse.move(box["x"] + box["width"] / 2 - 60, box["y"] + box["height"] / 2 - 40, steps=5)
    p.mouse.up()
    moved = stage.evaluate("e => { const m = new DOMMatrix(e.style.transform);"
                           " return [m.e, m.f]; }")
    assert moved[0] < 0 and moved[1] < 0  # panned towards the upper left

    overlay = first.locator("img.viewer-overlay")
    expect(overlay).to_be_hidden()
    first.get_by_label("Heat map").check()
    expect(overlay).to_be_visible()
    first.get_by_label("Opacity").fill("30")
    expect(first.locator(".overlay-opacity-value")).to_have_text("30%")
    assert overlay.evaluate("e => getComputedStyle(e).opacity") == "0.3"
    expect(first.get_by_role("group", name="Heat-map colours")).to_be_visible()
    first.get_by_label("Opacity").fill("80")  # for the picture

    previous = right.locator("section.previous-screening")
    expect(previous.get_by_role("heading", name="Previous screening of this eye")).to_be_visible()
    expect(previous).to_contain_text("Mild non-proliferative")
    expect(previous.locator("img.viewer-photo")).to_have_count(2)
    expect(first.locator("figcaption")).to_contain_text("Quality: good")
    screenshot(p, "emr-report-photographs", focus=right)

    p.set_viewport_size(PHONE)
    p.get_by_role("button", name="Sign the review").scroll_into_view_if_needed()
    assert p.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    expect(first.get_by_role("button", name="Zoom in")).to_be_visible()
    screenshot(p, "emr-report-photographs-phone", focus=right, viewport=PHONE)
