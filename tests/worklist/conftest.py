"""Worklist fixtures: a real EMR served over HTTP on a free port, with patients and
orders made through the EMR's own code, and the worklist SCP in process in front
of it; helpers to run findscu against it and to read what came back."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pytest
from flask import Flask
from pydicom import dcmread
from pydicom.dataset import Dataset
from sqlalchemy import select
from werkzeug.serving import BaseWSGIServer, make_server

from emr import EmrConfig, ServiceToken, create_app
from emr.accounts import create_user
from emr.audit import Actor
from emr.database import database, session
from emr.models import Order, Patient, Role, User
from emr.orders import OrderRequest, change_state, create_order
from emr.patients import PatientDetails, create_patient
from tests.conftest import dcmtk
from worklist.config import TOKEN_VARIABLE, WorklistConfig, load_config
from worklist.server import start_server

TOKEN = "worklist-token-0123456789abcdef"
STATIONS = ("FUNDUS_CAM1", "FUNDUS_CAM2")
#: Calling AE titles the test worklist accepts: findscu's default and a station.
CALLERS = ("FINDSCU", "FUNDUS_CAM1")
WORKLIST_AE = "FOVEA_MWL"
FAST_HASH = "pbkdf2:sha256:1000"


@dataclass(frozen=True)
class OrderIds:
    """An order's database id and the identifiers the worklist item carries."""

    id: int
    accession_number: str
    requested_procedure_id: str
    study_instance_uid: str


@dataclass
class RunningEmr:
    """The EMR app served on ``url``; patients and orders are made as its nurse."""

    app: Flask
    url: str

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def _nurse(self) -> Actor:
        nurse = session().scalar(select(User).where(User.username == "nurse"))
        assert nurse is not None
        return Actor(user=nurse)

    def add_patient(self, mrn: str, family: str, given: str, birth: date, sex: str) -> int:
        with self.app.app_context():
            db = session()
            patient = create_patient(db, PatientDetails(mrn, family, given, birth, sex),
                                     self._nurse(), date.today())
            db.commit()
            return patient.id

    def add_order(self, patient_id: int, scheduled_at: datetime, station: str = STATIONS[0],
                  laterality: str = "both", priority: str = "ROUTINE",
                  reason: str = "") -> OrderIds:
        with self.app.app_context():
            db = session()
            patient = db.get(Patient, patient_id)
            assert patient is not None
            order = create_order(db, patient, OrderRequest(laterality, priority, station,
                                                           scheduled_at, reason),
                                 self._nurse(), STATIONS)
            db.commit()
            return OrderIds(order.id, order.accession_number, order.requested_procedure_id,
                            order.study_instance_uid)

    def move(self, order_id: int, *states: str, reason: str = "") -> None:
        """Walk an order through ``states`` as the nurse would."""
        with self.app.app_context():
            db = session()
            order = db.get(Order, order_id)
            assert order is not None
            for state in states:
                change_state(db, order, state, self._nurse(), reason)
            db.commit()

    def state(self, order_id: int) -> tuple[str, str, list[str | None]]:
        """The order's state, its reason, and who made each transition."""
        with self.app.app_context():
            order = session().get(Order, order_id)
            assert order is not None
            return (order.state.value, order.state_reason,
                    [t.service for t in order.transitions])


@contextmanager
def running_emr(folder: Path) -> Iterator[RunningEmr]:
    """The EMR on a throwaway SQLite database, served by werkzeug on a free port.

    ``make_server`` listens before it returns, so the EMR is ready at once.
    """
    config = EmrConfig(
        secret_key="test-secret-key-" + "x" * 32, database_url=f"sqlite:///{folder / 'emr.db'}",
        environment="testing", data_dir=folder, stations=STATIONS,
        password_hash_method=FAST_HASH,
        service_tokens=(ServiceToken("worklist", TOKEN, frozenset(
            {"orders:read", "orders:state", "patients:read"})),))
    app = create_app(config)
    with app.app_context():
        db = session()
        create_user(db, "nurse", "Florence Nightingale", Role.NURSE, "correct horse battery",
                    FAST_HASH)
        db.commit()
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    # A short poll interval: shutdown() waits for the serving loop's next look.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="emr", daemon=True)
    thread.start()
    try:
        yield RunningEmr(app, f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(timeout=10)
        database(app).engine.dispose()


def write_network(path: Path, emr_port: int, cache_seconds: float = 0) -> Path:
    """A network file for tests: the worklist on port 0 in front of the EMR's port."""
    accepts = ", ".join(f'"{ae}"' for ae in CALLERS)
    path.write_text(f"""
[settings]
max_associations = 8
acse_timeout = 10
dimse_timeout = 20
network_timeout = 30

[nodes.worklist]
ae_title = "{WORKLIST_AE}"
host = "127.0.0.1"
port = 0
accepts = [{accepts}]

[nodes.emr]
host = "127.0.0.1"
http_port = {emr_port}

[worklist]
emr_cache_seconds = {cache_seconds}
emr_timeout = 3
""")
    return path


def worklist_config(network: Path, data_dir: Path, token: str = TOKEN,
                    *options: str) -> WorklistConfig:
    """The configuration ``python -m worklist`` would read, on a free port."""
    return load_config(["--config", str(network), "--port", "0", "--data-dir", str(data_dir),
                        *options], environ={TOKEN_VARIABLE: token})


@dataclass
class RunningWorklist:
    config: WorklistConfig
    port: int

    def address(self) -> list[str]:
        """findscu's options to reach this worklist."""
        return ["-aec", self.config.settings.ae_title, "127.0.0.1", str(self.port)]


@contextmanager
def running_worklist(config: WorklistConfig) -> Iterator[RunningWorklist]:
    """The worklist SCP in this process; it listens before ``start_server`` returns."""
    server = start_server(config)
    try:
        yield RunningWorklist(config, server.server_address[1])
    finally:
        server.shutdown()


@pytest.fixture
def emr(tmp_path: Path) -> Iterator[RunningEmr]:
    with running_emr(tmp_path) as running:
        yield running


@pytest.fixture
def worklist(emr: RunningEmr, tmp_path: Path) -> Iterator[RunningWorklist]:
    network = write_network(tmp_path / "network.toml", emr.port)
    with running_worklist(worklist_config(network, tmp_path / "worklist")) as running:
        yield running


def findscu(worklist: RunningWorklist, keys: dict[str, str | None], *options: str,
            calling: str = "FINDSCU", check: bool = True) -> tuple[list[Dataset], str]:
    """Run ``findscu -W``; return the response identifiers in order, and its output.

    A key given ``None`` is sent as a return key without a value (for a
    sequence: an empty sequence).
    """
    arguments = [key if value is None else f"{key}={value}" for key, value in keys.items()]
    with tempfile.TemporaryDirectory(prefix="mwl-") as out:
        result = dcmtk("findscu", "-v", "-W", "-aet", calling, *worklist.address(), "-X",
                       "-od", out, *options,
                       *[option for key in arguments for option in ("-k", key)], check=check)
        responses = [dcmread(path) for path in sorted(Path(out).glob("rsp*.dcm"))]
    return responses, result.stdout + result.stderr
