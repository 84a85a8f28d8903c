"""Administration: the user pages, and the operators' commands."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from emr.database import session
from emr.migrate import current_revision, head_revision
from emr.models import Order, Patient, Role, User
from emr.database import database

from .conftest import PASSWORD, AuthActions, user


def test_admin_creates_a_user_who_can_log_in(app: Flask, auth: AuthActions) -> None:
    auth.login("admin")
    response = auth.post("/admin/users/new", {
        "username": "o.smith", "full_name": "Olu Smith", "role": "ophthalmologist",
        "password": "a long enough passphrase", "confirm": "a long enough passphrase"})
    assert response.status_code == 302
    assert "o.smith" in auth.client.get("/admin/users").text
    auth.logout()
    assert auth.login("o.smith", "a long enough passphrase").status_code == 302
    assert auth.client.get("/").headers["Location"] == "/reviews"


def test_bad_accounts_are_refused_with_a_message(app: Flask, auth: AuthActions) -> None:
    auth.login("admin")
    cases = [
        ({"username": "x"}, "3-64 lower-case letters"),
        ({"password": "short", "confirm": "short"}, "use at least 12 characters"),
        ({"confirm": "something else entirely"}, "the passwords differ"),
        ({"username": "nurse"}, "is taken"),
        ({"password": "kim.lee-kim.lee", "confirm": "kim.lee-kim.lee"}, "user name"),
    ]
    for changes, message in cases:
        data = {"username": "kim.lee", "full_name": "Kim Lee", "role": "nurse",
                "password": "a long enough passphrase", "confirm": "a long enough passphrase",
                **changes}
        response = auth.post("/admin/users/new", data)
        assert response.status_code == 422 and message in response.text, message
    with app.app_context():
        assert session().scalar(select(func.count(User.id))) == len(Role)


def test_admin_edits_and_deactivates(app: Flask, auth: AuthActions) -> None:
    target = user(app, "technician").id
    auth.login("admin")
    response = auth.post(f"/admin/users/{target}", {
        "full_name": "Theo T.", "role": "nurse", "password": ""})  # active unticked
    assert response.status_code == 302
    changed = user(app, "technician")
    assert (changed.full_name, changed.role, changed.active) == ("Theo T.", Role.NURSE, False)
    auth.logout()
    assert "wrong password" in auth.login("technician").text


def test_admin_cannot_lock_themselves_out(app: Flask, auth: AuthActions) -> None:
    me = user(app, "admin").id
    auth.login("admin")
    response = auth.post(f"/admin/users/{me}", {"full_name": "Admin", "role": "nurse",
                                                "active": "y"})
    assert response.status_code == 422 and "cannot deactivate your own" in response.text
    assert user(app, "admin").role == Role.ADMIN


def test_password_change_by_admin(app: Flask, auth: AuthActions) -> None:
    target = user(app, "nurse").id
    auth.login("admin")
    auth.post(f"/admin/users/{target}", {"full_name": "Nurse", "role": "nurse", "active": "y",
                                         "password": "a brand new passphrase"})
    auth.logout()
    assert auth.login("nurse", PASSWORD).status_code == 200
    assert auth.login("nurse", "a brand new passphrase").status_code == 302


def test_create_admin_command(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-admin", "--username", "root.admin",
                                 "--full-name", "Root Admin"],
                           input="a strong passphrase\na strong passphrase\n")
    assert result.exit_code == 0, result.output
    assert "administrator root.admin created" in result.output
    assert user(app, "root.admin").role == Role.ADMIN
    again = runner.invoke(args=["create-admin", "--username", "root.admin",
                                "--full-name", "Root"],
                          env={"FOVEA_ADMIN_PASSWORD": "another passphrase"})
    assert again.exit_code != 0 and "is taken" in again.output
    weak = runner.invoke(args=["create-admin", "--username", "weak", "--full-name", "W"],
                         env={"FOVEA_ADMIN_PASSWORD": "short"})
    assert weak.exit_code != 0 and "12" in weak.output


def test_seed_demo_command(app: Flask, auth: AuthActions) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed-demo", "--patients", "6", "--seed", "3"],
                           env={"FOVEA_DEMO_PASSWORD": "demo passphrase 1"})
    assert result.exit_code == 0, result.output
    assert "6 patients" in result.output
    with app.app_context():
        db = session()
        assert db.scalar(select(func.count(Patient.id))) == 6
        states = set(db.scalars(select(Order.state)))
    assert {s.value for s in states} & {"ai_done", "reviewed"}
    assert "scheduled" in {s.value for s in states}
    again = runner.invoke(args=["seed-demo", "--patients", "2"])
    assert again.exit_code != 0 and "already exist" in again.output
    auth.login("nurse")
    assert auth.client.get("/dashboard").status_code == 200


def test_db_upgrade_command(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["db-upgrade"])
    assert result.exit_code == 0 and "up to date" in result.output
    assert current_revision(database(app).engine) == head_revision()
