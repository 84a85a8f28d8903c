"""A test client that POSTs the pages' forms with the session's CSRF token (every app)."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


class FormSession:
    """A browser's session on one app: its CSRF token, read from a page, goes with each POST."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.token = ""

    def refresh_token(self, url: str = "/login") -> str:
        page = self.client.get(url, follow_redirects=True)
        match = CSRF.search(page.text)
        assert match, f"no CSRF token on {url}"
        self.token = match.group(1)
        return self.token

    def post(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> TestResponse:
        return self.client.post(url, data={"csrf_token": self.token, **(data or {})}, **kwargs)
