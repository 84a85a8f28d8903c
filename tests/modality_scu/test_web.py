"""The technicians' pages: log-in, CSRF, the session cookie, headers, the user command."""

from __future__ import annotations

import dataclasses

from flask import Flask
from flask.testing import FlaskClient

from modality_scu import StationConfig
from modality_scu.database import database

from .conftest import PASSWORD, AuthActions, make_station


def test_pages_need_a_login(client: FlaskClient) -> None:
    for url in ("/", "/worklist", "/outbox", "/examinations/1"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")


def test_login_with_a_wrong_password_is_refused(client: FlaskClient, auth: AuthActions) -> None:
    response = auth.login(password="not the password")
    assert response.status_code == 200
    assert "Unknown user name or wrong password." in response.text
    assert client.get("/worklist").status_code == 302
    response = auth.login(username="nobody")
    assert "Unknown user name or wrong password." in response.text


def test_login_then_logout(client: FlaskClient, auth: AuthActions) -> None:
    response = auth.login()
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert client.get("/").headers["Location"] == "/worklist"
    page = client.get("/outbox")
    assert "Tess Technician" in page.text
    assert "Nothing is waiting" in page.text
    response = auth.post("/logout", follow_redirects=True)
    assert "You are logged out." in response.text
    assert client.get("/outbox").status_code == 302


def test_login_keeps_only_a_local_next_page(auth: AuthActions) -> None:
    auth.refresh_token("/login")
    response = auth.client.post("/login?next=https://evil.example/", data={
        "csrf_token": auth.token, "username": "tech", "password": PASSWORD})
    assert response.headers["Location"] == "/"


def test_a_form_without_its_csrf_token_is_refused(client: FlaskClient,
                                                  auth: AuthActions) -> None:
    response = client.post("/login", data={"username": "tech", "password": PASSWORD})
    assert response.status_code == 400
    assert "The form has expired" in response.text
    auth.login()
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
    response = client.get("/login")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert 'href="/static/fovea.css"' in response.text
    assert client.get("/static/fovea.css").status_code == 200


def test_create_user_command(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-user", "--username", "nora", "--full-name",
                                 "Nora Nurse-Tech"], env={"FOVEA_STATION_PASSWORD": PASSWORD})
    assert result.exit_code == 0, result.output
    assert "operator nora created" in result.output
    again = runner.invoke(args=["create-user", "--username", "nora", "--full-name", "N"],
                          env={"FOVEA_STATION_PASSWORD": PASSWORD})
    assert again.exit_code != 0 and "taken" in again.output
    weak = runner.invoke(args=["create-user", "--username", "weak", "--full-name", "W"],
                         env={"FOVEA_STATION_PASSWORD": "short"})
    assert weak.exit_code != 0 and "12 to 128 characters" in weak.output
    auth = AuthActions(app.test_client())
    assert auth.login("nora").status_code == 302


def test_passwords_are_stored_hashed(app: Flask) -> None:
    with database(app).engine.connect() as connection:
        (stored,) = connection.exec_driver_sql("SELECT password_hash FROM operators").one()
    assert PASSWORD not in stored
    assert stored.startswith("pbkdf2:sha256")


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
