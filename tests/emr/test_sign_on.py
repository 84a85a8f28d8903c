"""Sessions bound to sign-ons: logout, a new password or deactivation end them at once,
and the EMR signs people on to the apps whose roles admit them."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from emr import EmrConfig
from emr.config import SignOnClient

from .conftest import PASSWORD, AuthActions, make_config, user

STATION_SECRET = "station-sign-on-secret-0123456789"
STATE = "s" * 24


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> EmrConfig:
    return make_config(database_url, tmp_path, sign_on_clients=(
        SignOnClient("station", STATION_SECRET, frozenset({"technician"}),
                     "http://station.invalid/sign-on/return"),))


def _code(auth: AuthActions) -> str:
    response = auth.client.get(f"/sign-on/authorize?client=station&state={STATE}")
    assert response.status_code == 302, response.text
    target = urlsplit(response.headers["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == \
        "http://station.invalid/sign-on/return"
    query = parse_qs(target.query)
    assert query["state"] == [STATE]
    return query["code"][0]


def _call(client: FlaskClient, path: str, body: dict[str, str],
          secret: str = STATION_SECRET) -> tuple[int, dict[str, object]]:
    response = client.post(path, json={"client": "station", **body},
                           headers={"Authorization": f"Bearer {secret}"})
    return response.status_code, response.get_json()


def _signed_on(auth: AuthActions, client: FlaskClient) -> str:
    status, body = _call(client, "/sign-on/token", {"code": _code(auth)})
    assert status == 200, body
    token = body["token"]
    assert isinstance(token, str)
    return token


def test_a_cookie_saved_before_logout_no_longer_works(auth: AuthActions) -> None:
    auth.login("nurse")
    saved = auth.client.get_cookie("fovea_emr_session")
    assert saved is not None and auth.client.get("/patients").status_code == 200
    auth.logout()
    auth.client.set_cookie("fovea_emr_session", saved.value)
    assert auth.client.get("/patients").status_code == 302  # back to the log-in page


def test_a_new_password_ends_the_accounts_sessions(app: Flask, auth: AuthActions) -> None:
    nurse = AuthActions(app.test_client())
    nurse.login("nurse")
    assert nurse.client.get("/patients").status_code == 200
    auth.login("admin")
    nurse_id = user(app, "nurse").id
    form = {"full_name": "Nurse Tester", "role": "nurse", "active": "y",
            "password": "another long passphrase 42", "confirm": "another long passphrase 42"}
    response = auth.post(f"/admin/users/{nurse_id}", form)
    assert response.status_code == 302, response.text
    assert nurse.client.get("/patients").status_code == 302
    assert nurse.login("nurse", "another long passphrase 42").status_code == 302


def test_deactivation_ends_the_accounts_sessions(app: Flask, auth: AuthActions) -> None:
    nurse = AuthActions(app.test_client())
    nurse.login("nurse")
    auth.login("admin")
    response = auth.post(f"/admin/users/{user(app, 'nurse').id}",
                         {"full_name": "Nurse Tester", "role": "nurse"})
    assert response.status_code == 302, response.text
    assert nurse.client.get("/patients").status_code == 302


def test_an_app_trades_a_code_once_for_a_session_it_can_check(
        app: Flask, auth: AuthActions) -> None:
    auth.login("technician")
    code = _code(auth)
    server = app.test_client()  # the station, calling server to server
    status, body = _call(server, "/sign-on/token", {"code": code})
    assert status == 200
    assert body["person"] == {"username": "technician", "full_name": "Technician Tester",
                              "role": "technician"}
    assert _call(server, "/sign-on/token", {"code": code})[0] == 400  # spent
    token = str(body["token"])
    assert _call(server, "/sign-on/session", {"token": token})[1]["active"] is True
    assert _call(server, "/sign-on/session", {"token": token}, "wrong secret")[0] == 401
    # The app's token is no EMR session, and the EMR's cookie is no app token.
    cookie = auth.client.get_cookie("fovea_emr_session")
    assert cookie is not None
    assert _call(server, "/sign-on/session", {"token": cookie.value})[1]["active"] is False


def test_a_role_the_app_does_not_admit_is_refused(auth: AuthActions) -> None:
    auth.login("nurse")
    response = auth.client.get(f"/sign-on/authorize?client=station&state={STATE}")
    assert response.status_code == 403 and "technician" in response.text


@pytest.mark.parametrize("query", ["client=elsewhere&state=" + STATE, "client=station&state=x",
                                   "client=station"])
def test_an_unknown_app_or_a_missing_state_is_a_bad_request(auth: AuthActions,
                                                            query: str) -> None:
    auth.login("technician")
    assert auth.client.get(f"/sign-on/authorize?{query}").status_code == 400


def test_logging_out_of_the_app_or_of_the_emr_ends_the_app_session(
        app: Flask, auth: AuthActions) -> None:
    server = app.test_client()
    auth.login("technician")
    token = _signed_on(auth, server)
    assert _call(server, "/sign-on/end", {"token": token})[1] == {"ended": True}
    assert _call(server, "/sign-on/session", {"token": token})[1]["active"] is False
    assert auth.client.get("/orders").status_code == 200  # the EMR session goes on
    token = _signed_on(auth, server)
    auth.logout()
    assert _call(server, "/sign-on/session", {"token": token})[1]["active"] is False


def test_a_new_password_ends_the_app_sessions_too(app: Flask, auth: AuthActions) -> None:
    server = app.test_client()
    technician = AuthActions(app.test_client())
    technician.login("technician")
    token = _signed_on(technician, server)
    auth.login("admin")
    auth.post(f"/admin/users/{user(app, 'technician').id}",
              {"full_name": "Technician Tester", "role": "technician", "active": "y",
               "password": PASSWORD + " changed", "confirm": PASSWORD + " changed"})
    assert _call(server, "/sign-on/session", {"token": token})[1]["active"] is False


@pytest.mark.parametrize("target", ["/patients%0d%0aSet-Cookie:%20x=1", "/patients%0a"])
def test_a_control_character_in_next_is_a_bad_request(auth: AuthActions, target: str) -> None:
    auth.refresh_token("/login")
    response = auth.client.post(f"/login?next={target}", data={
        "csrf_token": auth.token, "username": "nurse", "password": PASSWORD})
    assert response.status_code == 400


def test_the_log_in_page_names_the_app_it_goes_on_to(client: FlaskClient) -> None:
    response = client.get(f"/sign-on/authorize?client=station&state={STATE}",
                          follow_redirects=True)
    assert "go on to the fundus imaging station" in response.text
    assert "go on to" not in client.get("/login?next=/patients").text
