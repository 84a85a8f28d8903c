"""Every page of the EMR at a phone's width (390 px) in real headless Chromium, each
opened by the role that uses it on the demo data: the page never scrolls sideways, a
table too wide for the screen scrolls inside its own labelled box, and the page's main
buttons and links can be scrolled to and seen whole (pictured for the README when
screenshots are asked for).
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.screenshots import PHONE, screenshot

from .browser import DemoData, log_in, seed_demo_data
from .test_browser import database_url, page, server  # noqa: F401 (fixtures)

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
expect = sync_api.expect

#: A control that a page must let one reach: its ARIA role and accessible name.
Control = tuple[str, str]

#: Every table of the page that is wider than the box around it, and every
#: ``.table-scroll`` box: whether it is a labelled region one can tab to, within the page.
TABLES = """() => {
  const tables = [...document.querySelectorAll("main table")].map((table, index) => {
    const box = table.closest(".table-scroll");
    const holder = box || table.parentElement;
    return {index, caption: table.caption ? table.caption.textContent.trim() : "",
            wide: table.offsetWidth > holder.clientWidth, boxed: box !== null};
  });
  const boxes = [...document.querySelectorAll("main .table-scroll")].map(box => ({
    label: box.getAttribute("aria-label") || "", role: box.getAttribute("role"),
    tabindex: box.getAttribute("tabindex"), right: box.getBoundingClientRect().right}));
  return {tables, boxes};
}"""


def test_every_emr_page_is_usable_at_phone_width(
        app: Flask, page: Any) -> None:  # noqa: F811 (the fixture)
    demo = seed_demo_data(app)
    p = page
    p.set_viewport_size(PHONE)
    problems: list[str] = []
    p.goto("/login")
    problems += _phone_problems(p, [("button", "Log in")])
    log_in(p, "nurse")
    problems += _nurse_pages(p, demo)
    log_in(p, "ophthalmologist")
    problems += _ophthalmologist_pages(p, demo)
    log_in(p, "admin")
    problems += _admin_pages(p)
    assert not problems, "\n".join(problems)


def _nurse_pages(p: Any, demo: DemoData) -> list[str]:
    patient, graded = demo.patient_id, demo.graded_order_id
    pages: list[tuple[str, list[Control], str | None]] = [
        ("/patients", [("link", "Register a patient"), ("button", "Search")], None),
        ("/patients?name=a", [("link", "Register a patient"), ("button", "Search")], None),
        ("/patients/new", [("button", "Save"), ("link", "Cancel")], None),
        (f"/patients/{patient}", [("link", "Edit details"), ("link", "Prescribe AI DR screening")],
         "emr-phone-01-patient"),
        (f"/patients/{patient}/edit", [("button", "Save")], None),
        (f"/patients/{patient}/orders/new", [("button", "Prescribe"), ("link", "Cancel")], None),
        ("/orders", [("button", "Filter")], "emr-phone-02-orders"),
        (f"/orders/{graded}", [("link", "Read the report")], None),
        (f"/orders/{demo.scheduled_order_id}", [("button", "Discontinue the order")], None),
        (f"/orders/{graded}/report", [("link", "Download PDF")], None),
        ("/dashboard", [("button", "Show"), ("link", "Open the recall lists")],
         "emr-phone-03-dashboard"),
        ("/admin/users", [("link", "Back to the start page")], None),  # the error page
    ]
    problems = []
    for path, controls, picture in pages:
        p.goto(path)
        problems += _phone_problems(p, controls, picture)
    p.get_by_role("button", name="Log out").click()
    return problems


def _ophthalmologist_pages(p: Any, demo: DemoData) -> list[str]:
    p.goto("/reviews")
    problems = _phone_problems(p, [("button", "Filter"), ("button", "Download CSV")])
    p.goto(f"/orders/{demo.graded_order_id}/report")
    problems += _phone_problems(p, [("link", "Download PDF"), ("button", "Sign the review")])
    right = p.get_by_role("group", name="Right eye (OD)", exact=False)
    right.get_by_label("Approve the AI finding").check()
    screenshot(p, "emr-phone-04-review-form", viewport=PHONE,
               focus=p.get_by_role("heading", name="Review", exact=True))
    p.get_by_role("button", name="Log out").click()
    return problems


def _admin_pages(p: Any) -> list[str]:
    pages: list[tuple[str, list[Control], str | None]] = [
        ("/admin/users", [("link", "Add a user"), ("link", "Download training labels (CSV)")],
         None),
        ("/admin/users/new", [("button", "Save"), ("link", "Cancel")], None),
        ("/audit", [("button", "Filter")], "emr-phone-05-audit"),
    ]
    problems = []
    for path, controls, picture in pages:
        p.goto(path)
        problems += _phone_problems(p, controls, picture)
    p.goto("/admin/users")
    p.get_by_role("link", name="nurse", exact=True).click()
    problems += _phone_problems(p, [("button", "Save"), ("link", "Cancel")])

    p.goto("/audit")  # its table scrolls in its box, from the keyboard too
    entries = p.get_by_role("region", name="Audit log entries")
    assert entries.evaluate("box => box.scrollWidth > box.clientWidth")
    entries.focus()
    expect(entries).to_be_focused()
    p.keyboard.press("ArrowRight")
    p.wait_for_function("box => box.scrollLeft > 0", arg=entries.element_handle())
    assert p.evaluate("window.scrollX") == 0
    return problems


def _phone_problems(p: Any, controls: list[Control], picture: str | None = None) -> list[str]:
    """What keeps the page open in ``p`` from being used at :data:`PHONE` width."""
    expect(p.get_by_role("heading", level=1)).to_be_visible()
    where = p.url.split("/", 3)[-1]
    problems = []
    width = p.evaluate("document.documentElement.scrollWidth")
    if width > PHONE["width"]:
        problems.append(f"/{where}: the page is {width} px wide")
    found = p.evaluate(TABLES)
    for table in found["tables"]:
        if table["wide"] and not table["boxed"]:
            problems.append(f"/{where}: table {table['index']} ({table['caption']!r}) is wider "
                            "than the page and has no .table-scroll box")
    for box in found["boxes"]:
        if not (box["label"] and box["role"] == "region" and box["tabindex"] == "0"):
            problems.append(f"/{where}: a .table-scroll box is not a labelled region one can "
                            f"tab to: {box}")
        if box["right"] > PHONE["width"]:
            problems.append(f"/{where}: a .table-scroll box ends at {box['right']} px")
    if not p.url.endswith("/login"):
        controls = [*controls, ("button", "Log out")]
    for role, name in controls:
        control = p.get_by_role(role, name=name, exact=True)
        try:
            control.scroll_into_view_if_needed(timeout=2000)
            expect(control).to_be_in_viewport(ratio=1, timeout=2000)
        except (AssertionError, sync_api.Error) as error:
            problems.append(f"/{where}: the {role} {name!r} cannot be reached: "
                            f"{str(error).splitlines()[0]}")
    if picture:
        screenshot(p, picture, viewport=PHONE)
    return problems
