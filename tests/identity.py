"""The EMR as the identity source for the station's and the AI page's tests.

A real EMR app, served over HTTP by a Werkzeug server in a thread, with one
account per person the tests sign on; :meth:`IdentityProvider.sign_on` walks
the sign-on as a browser would: log in at the EMR, ask it to sign on to the
app, carry the code back to the app, which trades it with the EMR over HTTP.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.serving import make_server
from werkzeug.test import TestResponse

from emr import EmrConfig, create_app
from emr.accounts import create_user
from emr.config import SignOnClient
from emr.database import database, session
from emr.models import Role, User
from tests.conftest import free_port
from tests.forms import CSRF as _CSRF

PASSWORD = "correct horse battery staple"
FAST_HASH = "pbkdf2:sha256:1000"
SECRETS = {"station": "station-sign-on-secret-" + "s" * 24,
           "ai": "ai-sign-on-secret-" + "a" * 24}
#: Who the tests sign on: user name, full name, role.
PEOPLE = (("tech", "Tess Technician", Role.TECHNICIAN), ("nina", "Nina Nurse", Role.NURSE),
          ("olga", "Olga Ophthalmologist", Role.OPHTHALMOLOGIST))


@dataclass
class IdentityProvider:
    """A running EMR that signs people on to the station and the AI page."""

    app: Flask
    url: str

    def environ(self, client: str) -> dict[str, str]:
        """What an app's process needs to sign people on here."""
        return {"FOVEA_EMR_URL": self.url,
                f"FOVEA_SIGN_ON_SECRET_{client.upper()}": SECRETS[client]}

    def add_person(self, username: str, full_name: str, role: Role) -> None:
        with self.app.app_context():
            db = session()
            if db.scalar(select(User).where(User.username == username)) is None:
                create_user(db, username, full_name, role, PASSWORD, FAST_HASH)
                db.commit()

    def browser(self, username: str) -> FlaskClient:
        """A browser logged in at the EMR as ``username``."""
        browser = self.app.test_client()
        page = browser.get("/login")
        match = _CSRF.search(page.text)
        assert match, "no CSRF token on the EMR's log-in page"
        response = browser.post("/login", data={"csrf_token": match.group(1),
                                                "username": username, "password": PASSWORD})
        assert response.status_code == 302, f"{username} could not log in at the EMR"
        return browser

    def sign_on(self, app_client: FlaskClient, username: str, next_path: str = "/",
                browser: FlaskClient | None = None) -> TestResponse:
        """Sign ``username`` on to the app ``app_client`` talks to; return the app's answer."""
        start = app_client.get(f"/login?next={next_path}")
        assert start.status_code == 302, start.text
        authorize = urlsplit(start.headers["Location"])
        assert f"{authorize.scheme}://{authorize.netloc}" == self.url
        answer = (browser or self.browser(username)).get(f"{authorize.path}?{authorize.query}")
        if answer.status_code != 302:
            return answer  # the EMR refused (a role the app does not admit)
        back = urlsplit(answer.headers["Location"])
        return app_client.get(f"{back.path}?{back.query}")


def identity_config(data_dir: Path, station_url: str, ai_url: str) -> EmrConfig:
    return EmrConfig(secret_key="identity-secret-" + "k" * 32,
                     database_url=f"sqlite:///{data_dir / 'emr.db'}", environment="testing",
                     data_dir=data_dir, password_hash_method=FAST_HASH,
                     sign_on_clients=(
                         SignOnClient("station", SECRETS["station"],
                                      frozenset({"technician"}), f"{station_url}/sign-on/return"),
                         SignOnClient("ai", SECRETS["ai"], frozenset({"nurse"}),
                                      f"{ai_url}/sign-on/return")))


@contextmanager
def running_identity_provider(data_dir: Path, station_url: str = "http://station.test",
                              ai_url: str = "http://ai.test") -> Iterator[IdentityProvider]:
    """An EMR serving sign-ons on a free port, with the people of :data:`PEOPLE`.

    The apps' return addresses only need to match what their test clients
    are asked for (a path and query); their hosts are never dialled.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(identity_config(data_dir, station_url, ai_url))
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    provider = IdentityProvider(app, f"http://127.0.0.1:{port}")
    for username, full_name, role in PEOPLE:
        provider.add_person(username, full_name, role)
    try:
        yield provider
    finally:
        server.shutdown()
        thread.join(timeout=5)
        database(app).engine.dispose()
