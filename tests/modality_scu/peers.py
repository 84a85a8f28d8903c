"""The station's real peers for whole-workflow tests: the EMR (served over HTTP on a
free port, with a nurse) and the worklist SCP (MWL C-FIND and MPPS) in front of it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from flask import Flask
from pydicom.dataset import Dataset
from sqlalchemy import select
from werkzeug.serving import BaseWSGIServer, make_server

from emr import EmrConfig, ServiceToken, create_app as create_emr
from emr.accounts import create_user
from emr.audit import Actor
from emr.database import database as emr_database
from emr.database import session as emr_session
from emr.models import Order as EmrOrder
from emr.models import Patient, Role, User
from emr.orders import OrderRequest, create_order
from emr.patients import PatientDetails, create_patient
from worklist.config import TOKEN_VARIABLE
from worklist.config import load_config as load_worklist_config
from worklist.server import start_server as start_worklist

from tests.identity import FAST_HASH

from .conftest import STATION_AE, write_network

TOKEN = "worklist-token-0123456789abcdef"
#: What identifies the test patient; none of it may be logged.
FAMILY, GIVEN, MRN, BIRTH = "Quixotic", "Xanthippe", "MRN-SECRET-4711", date(1937, 2, 3)
SECRETS = (FAMILY, GIVEN, MRN, "1937-02-03", "19370203")


@dataclass
class Peers:
    """The EMR and the worklist, running for this module."""

    emr: Flask
    emr_port: int
    worklist_port: int
    steps_dir: Path

    def schedule(self, laterality: str = "both") -> EmrOrder:
        """The nurse prescribes a screening on the station, now."""
        with self.emr.app_context():
            db = emr_session()
            nurse = db.scalar(select(User).where(User.username == "nurse"))
            patient = db.scalar(select(Patient).where(Patient.mrn == MRN))
            if patient is None:
                patient = create_patient(db, PatientDetails(MRN, FAMILY, GIVEN, BIRTH, "F"),
                                         Actor(user=nurse), date.today())
            order = create_order(db, patient, OrderRequest(
                laterality, "ROUTINE", STATION_AE, datetime.now(UTC)), Actor(user=nurse),
                (STATION_AE,))
            db.commit()
            return order

    def order_state(self, order_id: int) -> tuple[str, str]:
        with self.emr.app_context():
            order = emr_session().get(EmrOrder, order_id)
            assert order is not None
            return order.state.value, order.state_reason

    def step(self, mpps_uid: str) -> Dataset:
        """The MPPS instance as the worklist keeps it."""
        return Dataset.from_json((self.steps_dir / f"{mpps_uid}.json").read_text())


@contextmanager
def running_peers(folder: Path) -> Iterator[Peers]:
    """A real EMR served on a free port, and the worklist SCP in front of it."""
    folder.mkdir(parents=True, exist_ok=True)
    emr = create_emr(EmrConfig(
        secret_key="test-secret-key-" + "x" * 32, database_url=f"sqlite:///{folder / 'emr.db'}",
        environment="testing", data_dir=folder, stations=(STATION_AE,),
        password_hash_method=FAST_HASH, service_tokens=(ServiceToken("worklist", TOKEN, frozenset(
            {"orders:read", "orders:state", "patients:read"})),)))
    with emr.app_context():
        db = emr_session()
        create_user(db, "nurse", "Florence Nightingale", Role.NURSE, "correct horse battery",
                    FAST_HASH)
        db.commit()
    http: BaseWSGIServer = make_server("127.0.0.1", 0, emr, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    network = write_network(folder / "network.toml", 0, 0, emr_port=http.server_port)
    config = load_worklist_config(["--config", str(network), "--port", "0", "--data-dir",
                                   str(folder / "worklist")], environ={TOKEN_VARIABLE: TOKEN})
    worklist = start_worklist(config)
    try:
        yield Peers(emr, http.server_port, worklist.server_address[1], config.steps_dir)
    finally:
        worklist.shutdown()
        http.shutdown()
        thread.join(10)
        emr_database(emr).engine.dispose()
