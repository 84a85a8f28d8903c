"""An app's client of the EMR's sign-on, against a real EMR: trading a code, checking a
session on every request, ending it, and riding out an EMR that does not answer."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from imaging_common.web.sign_on import SignOnClient, SignOnSettings
from tests.identity import SECRETS, IdentityProvider, running_identity_provider

STATE = "s" * 24


def _signed_on(emr: IdentityProvider, client: SignOnClient, username: str = "tech") -> str:
    answer = emr.browser(username).get(f"/sign-on/authorize?client=station&state={STATE}")
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    person = client.redeem(code)
    assert person is not None and person.username == username
    assert client.redeem(code) is None  # a code works once
    return person.token


def test_a_session_is_checked_on_every_request_and_ends_at_once(tmp_path: Path) -> None:
    with running_identity_provider(tmp_path / "emr") as emr:
        client = SignOnClient(SignOnSettings(emr.url, "station", SECRETS["station"]))
        token = _signed_on(emr, client)
        person = client.check(token)
        assert person is not None and (person.full_name, person.role) == \
            ("Tess Technician", "technician")
        client.end(token)
        assert client.check(token) is None
        wrong = SignOnClient(SignOnSettings(emr.url, "station", "not the secret"))
        assert wrong.check(_signed_on(emr, client)) is None


def test_an_emr_that_does_not_answer_keeps_recent_sessions_for_a_while(tmp_path: Path) -> None:
    settings = SignOnSettings("http://127.0.0.1:9", "station", SECRETS["station"])
    with running_identity_provider(tmp_path / "emr") as emr:
        settings = dataclasses.replace(settings, emr_url=emr.url)
        client = SignOnClient(settings)
        strict = SignOnClient(dataclasses.replace(settings, outage_grace=0))
        token, other = _signed_on(emr, client), _signed_on(emr, strict)
        assert client.check(token) is not None and strict.check(other) is not None
        never_checked = _signed_on(emr, client)
    # The EMR is gone: what it vouched for goes on within the grace, nothing else does.
    assert client.check(token) is not None
    assert client.check(never_checked) is None
    assert strict.check(other) is None
