"""One sign-on in real headless Chromium: a person logs in once at the EMR and reaches
the station and the AI node's page as themselves; logging out of the EMR ends both;
one app's cookie is nothing to another.

Needs Playwright and Debian's ``chromium`` package; skips with a message where
either is missing.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from ai_node.config import AiConfig
from ai_node.dispatch import Dispatcher
from ai_node.web import create_app as create_ai_app
from modality_scu import create_app as create_station_app
from modality_scu import load_config as load_station_config
from modality_scu.database import database
from tests.ai_node.node_peers import PASSWORD, STATION_SIGN_ON_SECRET, LiveEmr
from tests.conftest import free_port
from tests.modality_scu.conftest import write_network
from tests.screenshots import screenshot

pytest_plugins = ["tests.ai_node.node_fixtures"]

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass(frozen=True)
class Apps:
    emr: str
    station: str
    ai: str


def _serve(app: Any, port: int) -> Any:
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    return server


@pytest.fixture
def apps(tmp_path: Path, live_emr: LiveEmr, ai_config: AiConfig, dispatcher: Dispatcher,
         ai_page_port: int, station_page_port: int) -> Iterator[Apps]:
    """The EMR, the station and the AI page, each on its own port, as make run serves them."""
    network = write_network(tmp_path / "station.toml", free_port(), free_port())
    station = create_station_app(load_station_config(
        ["--config", str(network), "--data-dir", str(tmp_path / "station"),
         "--environment", "testing"],
        environ={"FOVEA_STATION_SECRET_KEY": "station-browser-secret-" + "b" * 24,
                 "FOVEA_FSYNC": "0", "FOVEA_EMR_URL": live_emr.url,
                 "FOVEA_SIGN_ON_SECRET_STATION": STATION_SIGN_ON_SECRET}))
    servers = [_serve(station, station_page_port),
               _serve(create_ai_app(ai_config, dispatcher), ai_page_port)]
    yield Apps(live_emr.url, f"http://127.0.0.1:{station_page_port}",
               f"http://127.0.0.1:{ai_page_port}")
    for server in servers:
        server.shutdown()
    database(station).dispose()


@pytest.fixture
def page(apps: Apps) -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("Debian's chromium package is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox"])
        page = browser.new_page()
        page.set_default_timeout(15000)
        yield page
        browser.close()


def test_log_in_once_at_the_emr_and_reach_the_station_and_the_ai_page(
        page: Any, apps: Apps) -> None:
    p, expect = page, sync_api.expect
    p.goto(f"{apps.emr}/login")
    p.get_by_label("User name").fill("nina")
    p.get_by_label("Password").fill(PASSWORD)
    p.get_by_role("button", name="Log in").click()
    expect(p.locator(".who")).to_contain_text("Nina Nurse (nurse)")

    p.goto(f"{apps.station}/")  # no second log-in: the EMR signs her on
    expect(p.get_by_role("heading", name="Today's worklist")).to_be_visible()
    expect(p.locator(".who")).to_have_text("Nina Nurse")
    screenshot(p, "sign-on-01-station")
    p.goto(f"{apps.ai}/")
    expect(p.get_by_role("heading", level=1)).to_contain_text("AI diabetic retinopathy")
    expect(p.locator(".who")).to_have_text("Nina Nurse")

    # Each app's cookie carries only that app's session.
    cookies = {c["name"]: c for c in p.context.cookies()}
    assert {"fovea_emr_session", "fovea_station_session", "fovea_ai_session"} <= set(cookies)
    assert len({cookies[n]["value"] for n in ("fovea_emr_session", "fovea_station_session",
                                              "fovea_ai_session")}) == 3

    # Logging out of the EMR ends the sessions it began on the station and the AI page.
    p.goto(f"{apps.emr}/patients")
    p.get_by_role("button", name="Log out").click()
    expect(p.get_by_text("You are logged out.")).to_be_visible()
    p.goto(f"{apps.station}/worklist")
    expect(p.get_by_role("heading", name="Log in")).to_be_visible()  # at the EMR again
    assert p.url.startswith(f"{apps.emr}/login")
    p.goto(f"{apps.ai}/")
    assert p.url.startswith(f"{apps.emr}/login")


def test_one_apps_cookie_is_nothing_to_another(page: Any, apps: Apps) -> None:
    p, expect = page, sync_api.expect
    p.goto(f"{apps.station}/")
    p.get_by_label("User name").fill("tech")
    p.get_by_label("Password").fill(PASSWORD)
    p.get_by_role("button", name="Log in").click()
    expect(p.get_by_role("heading", name="Today's worklist")).to_be_visible()
    station = next(c for c in p.context.cookies() if c["name"] == "fovea_station_session")
    other = p.context.browser.new_context()
    try:
        stranger = other.new_page()
        for name in ("fovea_emr_session", "fovea_ai_session"):
            other.add_cookies([{"name": name, "value": station["value"],
                                "url": apps.emr if name == "fovea_emr_session" else apps.ai}])
        assert stranger.goto(f"{apps.emr}/orders").url.startswith(f"{apps.emr}/login")
        stranger.goto(f"{apps.ai}/")
        assert stranger.url.startswith(f"{apps.emr}/login")
    finally:
        other.close()
