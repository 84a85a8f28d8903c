"""Accounts on the pages: log-in, throttling, CSRF, cookies, and who may see what."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from emr import create_app
from emr.accounts import authenticate
from emr.database import database, session
from emr.exceptions import Throttled
from emr.models import LoginAttempt, Patient, utcnow

from .conftest import PASSWORD, AuthActions, make_config


def test_login_sends_each_role_home(auth: AuthActions) -> None:
    homes = {"nurse": "/patients", "technician": "/orders", "ophthalmologist": "/reviews",
             "admin": "/admin/users"}
    for username, home in homes.items():
        assert auth.login(username).status_code == 302
        assert auth.client.get("/").headers["Location"] == home
        assert auth.logout().status_code == 302


def test_wrong_password_and_unknown_user_get_the_same_answer(auth: AuthActions) -> None:
    wrong = auth.login("nurse", "not the password at all")
    unknown = auth.login("nobody", PASSWORD)
    for response in (wrong, unknown):
        assert response.status_code == 200
        assert "Unknown user name or wrong password." in response.text
    assert auth.client.get("/patients").status_code == 302  # still not logged in


def test_pages_need_a_login(client: FlaskClient) -> None:
    response = client.get("/patients")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_login_returns_to_the_page_asked_for_but_never_off_site(auth: AuthActions) -> None:
    auth.refresh_token()
    data = {"csrf_token": auth.token, "username": "nurse", "password": PASSWORD}
    inside = auth.client.post("/login?next=/patients/new", data=data)
    assert inside.headers["Location"] == "/patients/new"
    auth.refresh_token()
    data["csrf_token"] = auth.token
    outside = auth.client.post("/login?next=//evil.example/", data=data)
    assert outside.headers["Location"] == "/"


def test_logout_ends_the_session(auth: AuthActions) -> None:
    auth.login()
    assert auth.client.get("/patients").status_code == 200
    auth.logout()
    assert auth.client.get("/patients").status_code == 302


def test_throttling_after_repeated_failures(app: Flask, auth: AuthActions) -> None:
    for _ in range(5):
        assert auth.login("nurse", "wrong password, again").status_code == 200
    throttled = auth.login("nurse", PASSWORD)  # even the right password waits
    assert throttled.status_code == 429
    assert "Too many failed log-ins" in throttled.text
    with app.app_context():
        attempts = session().scalar(select(func.count(LoginAttempt.id)))
    assert attempts == 5  # the refused attempt never reached the password check


def test_throttling_lifts_after_the_window_and_success_resets(app: Flask) -> None:
    window = timedelta(minutes=15)
    with app.app_context():
        db = session()
        start = utcnow()
        for _ in range(5):
            assert authenticate(db, "nurse", "bad", "10.0.0.1", max_failures=5, window=window,
                                hash_method="pbkdf2:sha256:1000", now=start) is None
        with pytest.raises(Throttled) as caught:
            authenticate(db, "nurse", PASSWORD, "10.0.0.1", max_failures=5, window=window,
                         now=start + timedelta(minutes=1))
        assert 0 < caught.value.retry_after <= 15 * 60
        later = start + window + timedelta(seconds=1)
        assert authenticate(db, "nurse", PASSWORD, "10.0.0.1", max_failures=5, window=window,
                            hash_method="pbkdf2:sha256:1000", now=later) is not None
        # the success starts a fresh count for the account
        assert authenticate(db, "nurse", "bad", "10.0.0.2", max_failures=5, window=window,
                            hash_method="pbkdf2:sha256:1000", now=later) is None


def test_a_post_without_csrf_token_is_refused_and_changes_nothing(app: Flask,
                                                                  auth: AuthActions) -> None:
    auth.login()
    form = {"mrn": "CSRF1", "family_name": "Doe", "given_name": "John",
            "birth_date": "1970-01-01", "sex": "M"}
    refused = auth.client.post("/patients/new", data=form)
    forged = auth.client.post("/patients/new", data={**form, "csrf_token": "forged"})
    for response in (refused, forged):
        assert response.status_code == 400
        assert "security token" in response.text
    with app.app_context():
        assert session().scalar(select(func.count(Patient.id))) == 0
    assert auth.post("/patients/new", form).status_code == 302


def test_login_form_itself_needs_csrf(client: FlaskClient) -> None:
    response = client.post("/login", data={"username": "nurse", "password": PASSWORD})
    assert response.status_code == 400


def test_session_cookie_flags(auth: AuthActions) -> None:
    response = auth.login()
    cookie = next(c for c in response.headers.getlist("Set-Cookie")
                  if c.startswith("fovea_emr_session="))
    assert "Secure" not in cookie  # testing over plain HTTP; production sets it (below)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_production_cookies_are_secure(tmp_path: Path) -> None:
    config = make_config(f"sqlite:///{tmp_path / 'p.db'}", tmp_path, environment="production",
                         session_cookie_secure=True, secret_key="k" * 48, service_tokens=())
    app = create_app(config)
    response = app.test_client().get("/login")
    cookie = next(c for c in response.headers.getlist("Set-Cookie")
                  if c.startswith("fovea_emr_session="))
    assert "Secure" in cookie and "HttpOnly" in cookie
    database(app).engine.dispose()


def test_deactivated_account_cannot_log_in(app: Flask, auth: AuthActions) -> None:
    from emr.models import User
    with app.app_context():
        db = session()
        user = db.scalar(select(User).where(User.username == "technician"))
        assert user is not None
        user.active = False
        db.commit()
    assert "wrong password" in auth.login("technician").text
