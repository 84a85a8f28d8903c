"""A nurse in real headless Chromium: log in, Run an order, watch it finish without a
reload; Run all, see an order fail, and Retry it (pictured for the README by
``make screenshots``).

Needs Playwright and Debian's ``chromium`` package; skips with a message where
either is missing.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from redis import Redis
from werkzeug.serving import make_server

from ai_node.config import AiConfig
from ai_node.dispatch import Dispatcher
from ai_node.inbox import Inbox
from ai_node.web import create_app
from tests.screenshots import PHONE, screenshot
from tests.ai_node.node_peers import (PASSWORD, LiveEmr, LivePacs, photographs, run_worker,
                                      send_to_pacs)

pytest_plugins = ["tests.ai_node.node_fixtures"]

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def page(ai_config: AiConfig, dispatcher: Dispatcher, ai_page_port: int) -> Iterator[Any]:
    """The node's page behind a real HTTP server, in a headless browser."""
    if CHROMIUM is None:
        pytest.skip("Debian's chromium package is not installed (apt-get install chromium)")
    http = make_server("127.0.0.1", ai_page_port, create_app(ai_config, dispatcher),
                       threaded=True)
    thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox"])
        page = browser.new_page(base_url=f"http://127.0.0.1:{http.server_port}")
        page.set_default_timeout(15000)
        yield page
        browser.close()
    http.shutdown()
    thread.join(timeout=10)


def test_a_nurse_runs_an_order_and_watches_it_finish(
        page: Any, live_pacs: LivePacs, live_emr: LiveEmr, storage_scp: Inbox,
        ai_config: AiConfig, redis: Redis) -> None:
    p, expect = page, sync_api.expect
    order_id = live_emr.add_order()
    accession = live_emr.order(order_id).accession_number
    send_to_pacs(live_pacs, photographs(live_emr, order_id))

    p.goto("/")
    expect(p.get_by_role("heading", name="Log in")).to_be_visible()
    screenshot(p, "ai-01-login")
    p.get_by_label("User name").fill("nina")
    p.get_by_label("Password").fill(PASSWORD)
    p.get_by_role("button", name="Log in").click()
    row = p.locator(f'#orders tr[data-order-id="{order_id}"]')
    expect(row).to_contain_text(accession)
    expect(row).to_contain_text("Doe, Jane")
    expect(row).to_contain_text("MRN MRN-AI-1")
    row.get_by_role("button", name="Run").click()
    expect(p.get_by_role("status").first).to_contain_text(f"Order {order_id} is queued")
    expect(row.locator(".stage")).to_have_text("queued")
    expect(p.locator("#queue-length")).to_have_text("1")
    screenshot(p, "ai-02-queued")
    p.evaluate("window.stillTheSamePage = true")

    run_worker(ai_config, redis)

    job = p.locator(f'#jobs tr[data-job-id="dr-{accession}"] .stage')
    expect(job).to_have_text("done")  # by the page's polling
    # AI done: the row stays while its job is recent, with the result and the report
    expect(row.locator(".result")).not_to_have_count(0)
    expect(row.get_by_role("button")).to_have_count(0)
    expect(row.get_by_role("link", name="Report in the EMR")).to_have_attribute(
        "href", f"{ai_config.emr_url}/orders/{order_id}/report")
    # the "queued" notice does not outlive the job
    expect(p.get_by_role("status").first).to_have_text(f"Order {order_id}: grading done.")
    expect(p.get_by_text("is queued for grading")).to_have_count(0)
    expect(p.locator("#queue-length")).to_have_text("0")
    assert p.evaluate("window.stillTheSamePage") is True  # never reloaded
    screenshot(p, "ai-03-done")


def test_a_nurse_runs_all_and_retries_a_failed_order(
        page: Any, live_pacs: LivePacs, live_emr: LiveEmr, storage_scp: Inbox,
        ai_config: AiConfig, redis: Redis) -> None:
    p, expect = page, sync_api.expect
    graded = live_emr.add_order("MRN-AI-1")
    missing = live_emr.add_order("MRN-AI-2")  # acquired, but no photograph reached the PACS
    send_to_pacs(live_pacs, photographs(live_emr, graded))
    p.goto("/")
    p.get_by_label("User name").fill("nina")
    p.get_by_label("Password").fill(PASSWORD)
    p.get_by_role("button", name="Log in").click()
    expect(p.locator("#orders").get_by_role("button", name="Run")).to_have_count(2)
    p.get_by_role("button", name="Run all acquired").click()
    expect(p.get_by_role("status").first).to_contain_text("2 order(s) queued for grading.")
    expect(p.locator("#queue-length")).to_have_text("2")
    screenshot(p, "ai-04-run-all")

    run_worker(ai_config, redis)

    failed = p.locator(f'#orders tr[data-order-id="{missing}"]')
    expect(failed.locator(".stage")).to_have_text("failed")  # by the page's polling
    expect(failed.locator(".error")).to_contain_text("has no study")
    expect(p.locator(f'#orders tr[data-order-id="{graded}"]')).to_contain_text(
        "Report in the EMR")
    graded_job = f"dr-{live_emr.order(graded).accession_number}"
    expect(p.locator(f'#jobs tr[data-job-id="{graded_job}"] .stage')).to_have_text("done")
    expect(p.get_by_role("status").first).to_have_text(
        "Grading has ended; 1 job(s) failed: see their rows.")
    screenshot(p, "ai-05-failed")
    failed.get_by_role("button", name="Retry").click()
    expect(p.get_by_role("status").first).to_contain_text(f"Order {missing} is queued")
    expect(failed.locator(".stage")).to_have_text("queued")
    assert live_emr.order(missing).state.value == "ai_queued"


def test_the_page_is_usable_at_phone_width(
        page: Any, live_emr: LiveEmr, ai_config: AiConfig) -> None:
    """At 390 px the tables scroll inside their box, never the page, and the buttons
    stay where a thumb reaches them."""
    p, expect = page, sync_api.expect
    order_id = live_emr.add_order()
    p.set_viewport_size(PHONE)
    p.goto("/")
    assert p.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(p, "ai-06-phone-login", viewport=PHONE)
    p.get_by_label("User name").fill("nina")
    p.get_by_label("Password").fill(PASSWORD)
    p.get_by_role("button", name="Log in").click()
    row = p.locator(f'#orders tr[data-order-id="{order_id}"]')
    expect(row).to_contain_text("Doe, Jane")
    assert p.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    expect(p.get_by_role("button", name="Run all acquired")).to_be_in_viewport()
    expect(p.get_by_role("button", name="Log out")).to_be_visible()
    run = row.get_by_role("button", name="Run")
    run.scroll_into_view_if_needed()
    expect(run).to_be_in_viewport()
    screenshot(p, "ai-07-phone", viewport=PHONE)
