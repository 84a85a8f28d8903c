"""Real peers of the AI node for its tests, and the station's side: helpers, no fixtures.

The fixtures that start them live in :mod:`tests.ai_node.node_fixtures`.
"""

from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.transport import ThreadedAssociationServer
from redis import Redis
from rq import Queue
from sqlalchemy import select
from werkzeug.serving import BaseWSGIServer
from werkzeug.test import TestResponse

from ai_node.config import AiConfig
from ai_node.model.runtime import Grader
from ai_node.registry import Registry
from emr.audit import Actor
from emr.database import session
from emr.models import Order, User, utcnow
from emr.orders import OrderRequest, change_state, create_order
from emr.patients import PatientDetails, create_patient
from imaging_common.builders.identity import Equipment
from imaging_common.builders.identity import Patient as DicomPatient
from imaging_common.builders.identity import Request
from imaging_common.builders.ophthalmic import (Laterality, OphthalmicImage,
                                                build_ophthalmic_photograph)
from imaging_common.levels import Level
from imaging_common.query_scu import find
from imaging_common.settings import Node, Settings
from imaging_common.store_scu import store_instances
from imaging_common.uids import new_uid
from pacs_scp.server import start_server
from tests.ai_node.conftest import synthetic_fundus
from tests.conftest import REPO, free_port
from tests.identity import PASSWORD as IDENTITY_PASSWORD
from tests.identity import IdentityProvider

#: The grader the repository ships as active, which a node serves unless told otherwise.
SHIPPED_MODEL = ("dr-grader", Registry(REPO / "models").active_version("dr-grader"))

AI_TOKEN = "ai-node-test-token-0123456789"
STATION_AE = "FUNDUS_CAM1"
FAST_HASH = "pbkdf2:sha256:1000"
PASSWORD = IDENTITY_PASSWORD
AI_SIGN_ON_SECRET = "ai-page-sign-on-secret-" + "z" * 24
STATION_SIGN_ON_SECRET = "station-sign-on-secret-" + "y" * 24
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@dataclass(frozen=True)
class NetworkFile:
    path: Path
    pacs_port: int
    ai_port: int


def write_node_network(path: Path, max_associations: int = 8) -> NetworkFile:
    """The PACS and the node on free ports; the PACS accepts and moves to the node.

    ``max_associations`` bounds the associations each node accepts at once.

    Jobs retry twice at once (no delay), so that a burst worker sees every attempt;
    a busy worker beats every second, so that a killed one's job is soon abandoned.
    """
    pacs_port, ai_port = free_port(), free_port()
    path.write_text(f"""
[settings]
max_associations = {max_associations}
acse_timeout = 5
dimse_timeout = 15
network_timeout = 15

[nodes.pacs]
ae_title = "FOVEA_PACS"
host = "127.0.0.1"
port = {pacs_port}
accepts = ["FOVEA_AI", "{STATION_AE}"]
move_destinations = ["FOVEA_AI"]

[nodes.ai]
ae_title = "FOVEA_AI"
host = "127.0.0.1"
port = {ai_port}
accepts = ["FOVEA_PACS"]
http_port = 0

[nodes.station]
ae_title = "{STATION_AE}"
host = "127.0.0.1"

[nodes.emr]
host = "127.0.0.1"
http_port = 1

[ai]
retry_intervals = [0, 0]
job_timeout = 120
heartbeat = 1
""")
    return NetworkFile(path, pacs_port, ai_port)


@dataclass
class LivePacs:
    """The archive running in this process."""

    settings: Settings
    server: ThreadedAssociationServer
    running: bool = True

    @property
    def node(self) -> Node:
        return self.settings.node

    @property
    def archive(self) -> Path:
        return Path(self.settings.data_dir) / "archive"

    def stop(self) -> None:
        if self.running:
            self.server.shutdown()
            self.running = False

    def start(self) -> None:
        """Start it again on the same port, after :meth:`stop`."""
        if not self.running:
            self.server = start_server(self.settings)
            self.running = True

    def instances(self, study_uid: str) -> list[Dataset]:
        """C-FIND at IMAGE level: every instance of the study, as the PACS lists it."""
        query = Dataset()
        query.QueryRetrieveLevel = Level.IMAGE.value
        query.StudyInstanceUID = study_uid
        query.SeriesInstanceUID = ""
        query.SOPInstanceUID = ""
        query.SOPClassUID = ""
        query.Modality = ""
        return find(AE(STATION_AE), self.node, query)

    def files(self, study_uid: str) -> list[Path]:
        return sorted((self.archive / study_uid).glob("*/*.dcm"))


@dataclass
class LiveEmr:
    """The EMR app and the HTTP server that serves it on a thread."""

    app: Flask
    server: BaseWSGIServer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def add_order(self, mrn: str = "MRN-AI-1", laterality: str = "both",
                  state: str = "acquired") -> int:
        """A patient and a screening order, walked to ``state`` as the worklist would."""
        with self.app.app_context():
            db = session()
            nurse = db.scalar(select(User).where(User.username == "nurse"))
            patient = create_patient(db, PatientDetails(mrn, "Doe", "Jane", date(1961, 4, 12),
                                                        "F"), Actor(user=nurse), date.today())
            order = create_order(db, patient, OrderRequest(laterality, "ROUTINE", STATION_AE,
                                                           utcnow() + timedelta(hours=1)),
                                 Actor(user=nurse), (STATION_AE,))
            path = {"scheduled": [], "in_progress": ["in_progress"],
                    "acquired": ["in_progress", "acquired"]}[state]
            for step in path:
                change_state(db, order, step, Actor(service="worklist"))
            db.commit()
            return int(order.id)

    def order(self, order_id: int) -> Order:
        """The order with its patient, transitions and results, loaded."""
        with self.app.app_context():
            found = session().get(Order, order_id)
            assert found is not None
            found.transitions, found.results, found.patient  # load before the session ends
            for result in found.results:
                for eye in result.eyes:
                    eye.heatmap, eye.reviews  # deferred: load it too
                    for image in eye.images:
                        image.picture
            return found


def run_worker(config: AiConfig, redis: Redis, grader: Grader | None = None) -> bool:
    """Run the node's worker class in burst mode in this process; restore the signals.

    ``grader`` stands in for the active model's runtime (the registry entry,
    its version, Device UID and threshold stay the real ones).
    """
    from ai_node.model.serving import ServedModel
    from ai_node.worker import ModelWorker, node_services

    services = node_services(config)
    if grader is not None:
        services.served = ServedModel(Registry(config.registry).active(config.model), grader)
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        worker = ModelWorker([Queue(config.queue, connection=redis)],
                             services=services, connection=redis)
        return worker.work(burst=True, with_scheduler=True)
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


@dataclass
class SpawnedWorker:
    """A worker process and the events of its JSON log so far."""

    process: subprocess.Popen[str]
    events: list[dict[str, object]]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


def spawn_worker(config: AiConfig, *options: str) -> SpawnedWorker:
    """``python -m ai_node.worker`` for ``config``'s peers, returned once its model is loaded.

    Its log is drained on a thread into :attr:`SpawnedWorker.events`.
    """
    settings = config.settings
    process = subprocess.Popen(
        [sys.executable, "-m", "ai_node.worker", "--config", str(settings.config_path),
         "--data-dir", str(settings.data_dir), "--emr-url", config.emr_url,
         "--redis-url", config.redis_url, "--registry", str(config.registry),
         "--log-format", "json", *options],
        cwd=REPO, env={"PATH": "/usr/bin:/bin", "FOVEA_EMR_TOKEN_AI": config.emr_token},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    events: list[dict[str, object]] = []
    for line in process.stderr:
        if line.startswith("{"):
            events.append(json.loads(line))
            if events[-1].get("event") == "worker ready":
                break
    else:
        raise RuntimeError(f"the worker exited: {process.wait()}")
    threading.Thread(target=_drain, args=(process.stderr, events), daemon=True).start()
    return SpawnedWorker(process, events)


def _drain(stream: io.TextIOBase, events: list[dict[str, object]]) -> None:
    for line in stream:
        if line.startswith("{"):
            events.append(json.loads(line))


def photographs(emr: LiveEmr, order_id: int, eyes: tuple[str, ...] = ("R", "L"),
                jpeg: bool = True, size: int = 256) -> list[Dataset]:
    """Ophthalmic Photography images of the order's study, as the station makes them."""
    order = emr.order(order_id)
    request = Request(order.study_instance_uid, order.accession_number,
                      order.requested_procedure_id, order.scheduled_procedure_step_id,
                      "AI diabetic retinopathy screening")
    patient = DicomPatient(order.patient.mrn, "Doe^Jane", order.patient.birth_date, "F")
    series = new_uid()
    datasets = []
    for number, eye in enumerate(eyes, start=1):
        rgb = synthetic_fundus(size, seed=number)
        if jpeg:
            buffer = io.BytesIO()
            Image.fromarray(rgb).save(buffer, format="JPEG", quality=92)
            image = OphthalmicImage(Laterality(eye), jpeg=buffer.getvalue())
        else:
            image = OphthalmicImage(Laterality(eye), pixels=rgb)
        datasets.append(build_ophthalmic_photograph(
            image, patient, request, Equipment(model_name="test fundus camera"),
            series, instance_number=number))
    return datasets


def send_to_pacs(pacs: LivePacs, datasets: list[Dataset]) -> None:
    """C-STORE from the station's AE; every instance must be kept."""
    outcomes = store_instances(AE(STATION_AE), pacs.node, datasets)
    assert all(o.kept for o in outcomes), [o.describe() for o in outcomes]


class Nurse:
    """Sign on through the EMR and POST the page's forms with the session's CSRF token."""

    def __init__(self, client: FlaskClient, emr: LiveEmr) -> None:
        self.client = client
        self.emr = emr
        self.token = ""

    def refresh(self, url: str = "/") -> str:
        page = self.client.get(url, follow_redirects=True)
        match = _CSRF.search(page.text)
        assert match, f"no CSRF token on {url}"
        self.token = match.group(1)
        return page.text

    def login(self, username: str = "nina") -> TestResponse:
        """Sign on through the EMR, as a browser would."""
        response = IdentityProvider(self.emr.app, self.emr.url).sign_on(self.client, username)
        if response.status_code == 302:
            self.refresh("/")
        return response

    def post(self, url: str) -> TestResponse:
        return self.client.post(url, data={"csrf_token": self.token}, follow_redirects=True)
