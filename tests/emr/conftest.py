"""EMR fixtures: an app on each database, a test client, log-in helpers, and
builders for patients, orders and AI results."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from emr import EmrConfig, ServiceToken, create_app
from emr.audit import Actor
from emr.database import database, session
from emr.accounts import create_user
from emr.models import Order, Patient, Role, User, utcnow
from emr.orders import OrderRequest, create_order
from emr.patients import PatientDetails, create_patient
from imaging_common.uids import new_uid
from tests.forms import FormSession
from tests.conftest import throwaway_postgres


PASSWORD = "correct horse battery staple"
FAST_HASH = "pbkdf2:sha256:1000"  # the suite's passwords need no scrypt cost
STATION = "FUNDUS_CAM1"
STATIONS = (STATION, "FUNDUS_CAM2")
TOKENS = {
    "worklist": ("worklist-token-0123456789", {"orders:read", "orders:state", "patients:read"}),
    "ai": ("ai-token-0123456789", {"orders:read", "orders:state", "results:write"}),
    "reader": ("reader-token-0123456789", {"orders:read"}),
}
USERS = {role.value: role for role in Role}


def bearer(service: str) -> dict[str, str]:
    """The Authorization header of a configured service."""
    return {"Authorization": f"Bearer {TOKENS[service][0]}"}


def make_config(database_url: str, tmp_path: Path, **overrides: Any) -> EmrConfig:
    values: dict[str, Any] = dict(
        secret_key="test-secret-key-" + "x" * 32, database_url=database_url,
        environment="testing", data_dir=tmp_path, stations=STATIONS,
        password_hash_method=FAST_HASH,
        service_tokens=tuple(ServiceToken(name, token, frozenset(scopes))
                             for name, (token, scopes) in TOKENS.items()))
    values.update(overrides)
    return EmrConfig(**values)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """One throwaway PostgreSQL database for the session (skips where none answers)."""
    with throwaway_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The EMR's database: an SQLite file, then a fresh schema of a throwaway PostgreSQL
    database (a schema per test is much faster to make than a database)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'emr.db'}"
        return
    server = request.getfixturevalue("postgres_database")
    schema = f"t_{new_uid().split('.')[-1][:20]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(server).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> EmrConfig:
    return make_config(database_url, tmp_path)


@pytest.fixture
def app(config: EmrConfig) -> Iterator[Flask]:
    """The EMR on a fresh database, with one account per role (user name = role)."""
    app = create_app(config)
    with app.app_context():
        db = session()
        for name, role in USERS.items():
            create_user(db, name, f"{name.title()} Tester", role, PASSWORD, FAST_HASH)
        db.commit()
    yield app
    database(app).engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class AuthActions(FormSession):
    """Log in and out through the pages, and POST forms with the session's CSRF token."""

    def login(self, username: str = "nurse", password: str = PASSWORD) -> TestResponse:
        self.refresh_token("/login")
        response = self.client.post("/login", data={
            "csrf_token": self.token, "username": username, "password": password})
        if response.status_code == 302:
            self.refresh_token("/")  # the session is renewed at log-in
        return response

    def logout(self) -> TestResponse:
        return self.client.post("/logout", data={"csrf_token": self.token})


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


def user(app: Flask, username: str) -> User:
    from sqlalchemy import select
    with app.app_context():
        found = session().scalar(select(User).where(User.username == username))
        assert found is not None
        return found


def add_patient(app: Flask, mrn: str = "MRN001", family: str = "Doe", given: str = "Jane",
                birth: date = date(1961, 4, 12), sex: str = "F") -> int:
    """Register a patient as the nurse; return its id."""
    with app.app_context():
        db = session()
        nurse = db.get(User, user(app, "nurse").id)
        patient = create_patient(db, PatientDetails(mrn, family, given, birth, sex),
                                 Actor(user=nurse), date.today())
        db.commit()
        return patient.id


def add_order(app: Flask, patient_id: int, laterality: str = "both",
              scheduled_at: datetime | None = None, station: str = STATION) -> int:
    """Prescribe a screening for the patient as the nurse; return the order's id."""
    when = scheduled_at or utcnow() + timedelta(hours=2)
    with app.app_context():
        db = session()
        nurse = db.get(User, user(app, "nurse").id)
        patient = db.get(Patient, patient_id)
        assert patient is not None
        order = create_order(db, patient, OrderRequest(laterality, "ROUTINE", station, when),
                             Actor(user=nurse), STATIONS, now=min(when, utcnow()))
        db.commit()
        return order.id


def load_order(app: Flask, order_id: int) -> Order:
    with app.app_context():
        order = session().get(Order, order_id)
        assert order is not None
        order.transitions, order.results  # load before the session closes
        return order


def move(client: FlaskClient, order_id: int, *states: str, service: str = "ai") -> None:
    """Walk an order through ``states`` over the API."""
    for state in states:
        response = client.post(f"/api/v1/orders/{order_id}/transitions",
                               json={"state": state}, headers=bearer(service))
        assert response.status_code == 201, response.json


TO_AI_RUNNING = ("in_progress", "acquired", "ai_queued", "ai_running")


#: The referral threshold the simulated AI node's model was registered with.
THRESHOLD = 0.4403


def eye_body(laterality: str, grade: int | None, maculopathy: bool | None = None,
             **extra: Any) -> dict[str, Any]:
    """One eye of an AI result as the AI node posts it; the probabilities peak at ``grade``.

    Like the node, it decides referral by the referable probability against
    :data:`THRESHOLD` (with macular oedema where ``maculopathy`` is assessed);
    an ungradable eye has no probabilities and an unknown referral.
    """
    if grade is None:
        body: dict[str, Any] = {
            "laterality": laterality, "grade": None, "probabilities": None, "referable": None,
            "maculopathy": None, "image_quality": "ungradable", "quality_score": None,
            "quality_reasons": ["focus"],
            "source_sop_instance_uids": [str(new_uid()), str(new_uid())]}
        body.update(extra)
        return body
    probabilities = [0.025] * 5
    probabilities[grade] = 0.9
    dme = None if maculopathy is None else (0.8 if maculopathy else 0.05)
    referable_probability = 1 - (1 - sum(probabilities[2:])) * (1 - (dme or 0.0))
    body = {"laterality": laterality, "grade": grade, "probabilities": probabilities,
            "referable": referable_probability >= THRESHOLD,
            "referable_probability": round(referable_probability, 6),
            "referral_threshold": THRESHOLD, "borderline": False, "borderline_margin": 0.05,
            "dme_probability": dme, "maculopathy": maculopathy, "image_quality": "good",
            "quality_score": 0.9, "source_sop_instance_uids": [str(new_uid()), str(new_uid())]}
    body.update(extra)
    return body


def result_body(right: int | None = 0, left: int | None = 0, version: str = "1.0.0",
                eyes: list[dict[str, Any]] | None = None,
                **maculopathy: bool | None) -> dict[str, Any]:
    """An AI result for a both-eyes order."""
    return {
        "model": {"name": "fovea-effnet", "version": version},
        "performed_at": "2026-03-01T10:15:00+00:00",
        "sr_sop_instance_uid": str(new_uid()), "sc_sop_instance_uid": str(new_uid()),
        "eyes": eyes if eyes is not None else [
            eye_body("R", right, maculopathy.get("right")),
            eye_body("L", left, maculopathy.get("left"))],
    }


def graded_order(app: Flask, client: FlaskClient, patient_id: int, right: int | None = 0,
                 left: int | None = 0, scheduled_at: datetime | None = None,
                 **maculopathy: bool | None) -> int:
    """An order walked to *AI done* with a result; return its id."""
    order_id = add_order(app, patient_id, scheduled_at=scheduled_at)
    move(client, order_id, *TO_AI_RUNNING)
    response = client.post(f"/api/v1/orders/{order_id}/results",
                           json=result_body(right, left, **maculopathy), headers=bearer("ai"))
    assert response.status_code == 201, response.json
    return order_id


@dataclass
class Seeded:
    """A patient with a graded order."""

    patient_id: int
    order_id: int


@pytest.fixture
def graded(app: Flask, client: FlaskClient) -> Seeded:
    patient_id = add_patient(app)
    return Seeded(patient_id, graded_order(app, client, patient_id, right=2, left=0))
