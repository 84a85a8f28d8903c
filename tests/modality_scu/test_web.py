"""The technicians' pages: log-in, CSRF, the session cookie, headers, the user command."""

from __future__ import annotations

import dataclasses

from flask.testing import FlaskClient

from modality_scu import StationConfig
from modality_scu.database import database

from .conftest import AuthActions, identity, make_station


def test_pages_need_a_login(client: FlaskClient) -> None:
    for url in ("/", "/worklist", "/outbox", "/examinations/1"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")


def test_a_role_the_station_does_not_admit_is_refused_at_the_emr(client: FlaskClient) -> None:
    response = identity().sign_on(client, "nina")  # a nurse
    assert response.status_code == 403 and "technician" in response.text
    assert client.get("/worklist").status_code == 302


def test_login_then_logout(client: FlaskClient, auth: AuthActions) -> None:
    response = auth.login()
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert client.get("/").headers["Location"] == "/worklist"
    page = client.get("/outbox")
    assert "Tess Technician" in page.text
    assert "Nothing is waiting" in page.text
    saved = client.get_cookie("fovea_station_session")
    assert saved is not None
    response = auth.post("/logout", follow_redirects=True)
    assert "You are logged out." in response.text
    assert client.get("/outbox").status_code == 302
    client.set_cookie("fovea_station_session", saved.value)  # replayed after logout
    assert client.get("/outbox").status_code == 302


def test_the_station_keeps_no_password(client: FlaskClient) -> None:
    """Passwords are typed (and guesses throttled) at the EMR only."""
    response = client.get("/login")
    assert response.status_code == 302
    assert response.headers["Location"].startswith(f"{identity().url}/sign-on/authorize?")
    assert client.post("/login", data={"username": "tech", "password": "x"}).status_code == 405


def test_login_keeps_only_a_local_next_page(client: FlaskClient) -> None:
    response = identity().sign_on(client, "tech", next_path="https://evil.example/")
    assert response.headers["Location"] == "/worklist"


def test_a_control_character_in_next_is_a_bad_request(client: FlaskClient) -> None:
    assert client.get("/login?next=/worklist%0d%0aSet-Cookie:%20x=1").status_code == 400


def test_a_sign_on_state_that_was_not_started_here_is_refused(client: FlaskClient) -> None:
    assert client.get("/sign-on/return?code=abc&state=" + "x" * 24).status_code == 400


def test_a_form_without_its_csrf_token_is_refused(client: FlaskClient,
                                                  auth: AuthActions) -> None:
    auth.login()
    response = client.post("/logout")
    assert response.status_code == 400
    assert "The form has expired" in response.text
    response = client.post("/worklist/start", data={"item": "1.2.3/SPS"})
    assert response.status_code == 400
    response = client.post("/examinations/1/cancel", data={"reason": "UNSPECIFIED"})
    assert response.status_code == 400


def test_session_cookie_is_http_only_and_same_site(auth: AuthActions) -> None:
    response = auth.login()
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("fovea_station_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_session_cookie_is_secure_when_configured(config: StationConfig) -> None:
    app = make_station(dataclasses.replace(config, session_cookie_secure=True))
    try:
        response = AuthActions(app.test_client()).login()
        assert "; Secure" in response.headers["Set-Cookie"]
    finally:
        database(app).dispose()


def test_pages_carry_security_headers(client: FlaskClient) -> None:
    response = client.get("/logged-out")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert 'href="/static/fovea.css"' in response.text
    assert client.get("/static/fovea.css").status_code == 200


def test_worklist_down_gives_a_clear_message(client: FlaskClient, auth: AuthActions,
                                             config: StationConfig) -> None:
    auth.login()
    page = client.get("/worklist")
    assert page.status_code == 200
    port = config.worklist.port
    assert f"The worklist (FOVEA_MWL at 127.0.0.1:{port}) did not answer" in page.text
    start = auth.post("/worklist/start", {"item": "1.2.3/SPS-1"}, follow_redirects=True)
    assert "The examination was not started." in start.text


def test_unknown_examination_is_404(client: FlaskClient, auth: AuthActions) -> None:
    auth.login()
    response = client.get("/examinations/999")
    assert response.status_code == 404
    assert "Back to the worklist" in response.text
