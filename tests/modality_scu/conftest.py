"""Station fixtures: a network file, the station app with a technician, its test
client, the archive in process, DCMTK's wlmscpfs and storescp, a worklist item,
and the real worklist (MWL and MPPS SCP) in front of a real EMR."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pynetdicom.transport import ThreadedAssociationServer
from werkzeug.test import TestResponse

from imaging_common.codes import REQUESTED_PROCEDURE_DR_SCREENING
from imaging_common.settings import load_settings
from imaging_common.uids import new_uid
from modality_scu import StationConfig, create_app, load_config
from modality_scu.database import database, session
from modality_scu.models import Operator, Procedure
from modality_scu.procedures import StartPlan, plan_start, record_started
from modality_scu.web import CONTEXT_KEY, StationContext
from modality_scu.worklist_query import WorklistItem
from pacs_scp.server import start_server
from tests.forms import FormSession
from tests.conftest import free_port, require_tool, wait_for_port
from tests.identity import IdentityProvider

STATION_AE = "FUNDUS_CAM1"
PACS_AE = "FOVEA_PACS"
WORKLIST_AE = "FOVEA_MWL"
SECRET = "station-test-secret-" + "x" * 32
#: The EMR the station's technicians sign on through (set for each test).
_IDENTITY: list[IdentityProvider] = []


@pytest.fixture(autouse=True)
def _identity(identity_provider: IdentityProvider) -> IdentityProvider:
    _IDENTITY[:] = [identity_provider]
    return identity_provider


def identity() -> IdentityProvider:
    """The EMR that signs the station's technicians on."""
    return _IDENTITY[0]


def write_network(path: Path, pacs_port: int, worklist_port: int, emr_port: int = 5000,
                  station: str = "") -> Path:
    """A network file for the station's tests: the station calls the worklist and
    the archive, which accept it; ``station`` adds keys to ``[station]``."""
    path.write_text(f"""
[settings]
max_associations = 8
acse_timeout = 5
dimse_timeout = 10
network_timeout = 30

[nodes.pacs]
ae_title = "{PACS_AE}"
host = "127.0.0.1"
port = {pacs_port}
accepts = ["{STATION_AE}"]

[nodes.worklist]
ae_title = "{WORKLIST_AE}"
host = "127.0.0.1"
port = {worklist_port}
accepts = ["{STATION_AE}"]

[nodes.station]
ae_title = "{STATION_AE}"
host = "127.0.0.1"
http_port = 5001

[nodes.emr]
host = "127.0.0.1"
http_port = {emr_port}

[worklist]
emr_cache_seconds = 0
emr_timeout = 5

[station]
timezone = "UTC"
retry_first_seconds = 0.2
retry_max_seconds = 1
commitment_timeout = 5
{station}
""")
    return path


def station_config(network: Path, data_dir: Path, *options: str,
                   **environ: str) -> StationConfig:
    """The configuration ``python -m modality_scu`` would read, in testing mode."""
    return load_config(["--config", str(network), "--data-dir", str(data_dir),
                        "--environment", "testing", *options],
                       environ={"FOVEA_STATION_SECRET_KEY": SECRET, "FOVEA_FSYNC": "0",
                                **identity().environ("station"), **environ})


def make_station(config: StationConfig) -> Flask:
    """The station's app on ``config`` (not started); technicians sign on through the EMR."""
    return create_app(config)


def context(app: Flask) -> StationContext:
    """The station's context: configuration, outbox and sender."""
    return app.extensions[CONTEXT_KEY]


@pytest.fixture
def ports() -> dict[str, int]:
    """Free ports for the archive and the worklist (each may stay unused: a peer down)."""
    return {"pacs": free_port(), "worklist": free_port()}


@pytest.fixture
def network(tmp_path: Path, ports: dict[str, int]) -> Path:
    return write_network(tmp_path / "network.toml", ports["pacs"], ports["worklist"])


@pytest.fixture
def config(network: Path, tmp_path: Path) -> StationConfig:
    return station_config(network, tmp_path / "station")


@pytest.fixture
def app(config: StationConfig) -> Iterator[Flask]:
    app = make_station(config)
    yield app
    context(app).sender.stop()
    database(app).dispose()


@pytest.fixture
def demo_app(network: Path, tmp_path: Path) -> Iterator[Flask]:
    """The station of a network in demo mode (as ``make run`` starts it)."""
    app = make_station(station_config(network, tmp_path / "demo-station", FOVEA_DEMO="1"))
    yield app
    context(app).sender.stop()
    database(app).dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class AuthActions(FormSession):
    """Log in through the page, and POST forms with the session's CSRF token."""

    def login(self, username: str = "tech") -> TestResponse:
        """Sign on through the EMR, as a browser would."""
        response = identity().sign_on(self.client, username)
        if response.status_code == 302:
            self.refresh_token("/outbox")  # the session is renewed at log-in
        return response


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


# -- worklist items ---------------------------------------------------------------

@dataclass(frozen=True)
class Order:
    """What the worklist item of a test says about the patient and the order."""

    patient_id: str = "PIDX-93127"
    patient_name: str = "Quixotic^Xanthippe"
    birth_date: str = "19470315"
    sex: str = "F"
    accession_number: str = "ACC-STATION-1"
    requested_procedure_id: str = "RP-0001"
    scheduled_procedure_step_id: str = "SPS-0001"
    study_instance_uid: str = dataclasses.field(default_factory=lambda: str(new_uid()))
    description: str = "Fundus photography, both eyes"
    station_ae: str = STATION_AE
    modality: str = "OP"
    start_date: str = dataclasses.field(
        default_factory=lambda: datetime.now(UTC).strftime("%Y%m%d"))
    start_time: str = "093000"


def worklist_item(order: Order) -> Dataset:
    """A Modality Worklist item as an SCP answers it (PS3.4 Table K.6-1)."""
    item = Dataset()
    item.SpecificCharacterSet = "ISO_IR 192"
    item.PatientName = order.patient_name
    item.PatientID = order.patient_id
    item.PatientBirthDate = order.birth_date
    item.PatientSex = order.sex
    item.AccessionNumber = order.accession_number
    item.ReferringPhysicianName = "Nightingale^Florence"
    item.RequestingPhysician = "Nightingale^Florence"
    item.RequestedProcedureID = order.requested_procedure_id
    item.RequestedProcedureDescription = "AI diabetic retinopathy screening"
    item.RequestedProcedureCodeSequence = Sequence([REQUESTED_PROCEDURE_DR_SCREENING.to_item()])
    item.RequestedProcedurePriority = "ROUTINE"
    item.StudyInstanceUID = order.study_instance_uid
    item.ReferencedStudySequence = Sequence()
    item.ReferencedPatientSequence = Sequence()
    step = Dataset()
    step.ScheduledStationAETitle = order.station_ae
    step.ScheduledProcedureStepStartDate = order.start_date
    step.ScheduledProcedureStepStartTime = order.start_time
    step.Modality = order.modality
    step.ScheduledPerformingPhysicianName = ""
    step.ScheduledProcedureStepDescription = order.description
    step.ScheduledProtocolCodeSequence = Sequence([REQUESTED_PROCEDURE_DR_SCREENING.to_item()])
    step.ScheduledProcedureStepID = order.scheduled_procedure_step_id
    step.ScheduledProcedureStepStatus = "SCHEDULED"
    item.ScheduledProcedureStepSequence = Sequence([step])
    return item


def started_examination(app: Flask, order: Order = Order()) -> int:
    """An examination started on ``order``'s item as if the worklist had accepted
    its N-CREATE (no worklist needed); return its id."""
    item = WorklistItem.from_dataset(worklist_item(order))
    with app.app_context():
        db = session()
        operator = db.query(Operator).filter_by(username="tech").one()
        plan: StartPlan = plan_start(item, context(app).config)
        return record_started(db, item, plan, operator.id).id


def load_examination(app: Flask, procedure_id: int) -> Procedure:
    with app.app_context():
        procedure = session().get(Procedure, procedure_id)
        assert procedure is not None
        procedure.images, procedure.operator  # load before the session closes
        return procedure


# -- pictures ------------------------------------------------------------------------

def fundus_like(seed: int = 0, size: tuple[int, int] = (240, 320)) -> np.ndarray:
    """An RGB picture with an orange disc on a dark ground (not a real eye).

    A bright spot sits in its centre, like the optic disc of a disc-centred
    photograph, so the station's laterality check never tells its eye: it
    fits either slot. :func:`real_photograph` gives a real eye where one is needed.
    """
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size[0], 0:size[1]]
    from_centre = (y - size[0] / 2) ** 2 + (x - size[1] / 2) ** 2
    pixels = np.zeros((*size, 3), np.uint8)
    pixels[from_centre < (min(size) * 0.45) ** 2] = (180, 70, 30)
    pixels[from_centre < (min(size) * 0.06) ** 2] = (235, 190, 110)
    pixels += rng.integers(0, 24, pixels.shape, dtype=np.uint8)
    return pixels


#: Real photographs (never committed): ../shared/data/fundus-dr600, both eyes labelled.
DR600 = Path(__file__).resolve().parents[3] / "shared" / "data" / "fundus-dr600"


def real_photograph(eye: str, patient: str = "002") -> bytes:
    """A real fundus photograph of the ``eye`` (``R`` or ``L``) of a fundus-dr600
    patient, as its JPEG file; the test is skipped where the set is absent."""
    path = DR600 / "images_512" / f"p{patient}_{eye}.jpg"
    if not path.is_file():
        pytest.skip(f"no real photographs at {DR600} (see ../shared/data/README.md)")
    return path.read_bytes()


def encoded(pixels: np.ndarray, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt, **options)
    return buffer.getvalue()


def jpeg(seed: int = 0, **options: Any) -> bytes:
    return encoded(fundus_like(seed), "JPEG", quality=90, **options)


def dciodvfy_errors(path: Path) -> list[str]:
    """dciodvfy's "Error" lines for a file (none expected)."""
    tool = require_tool("dciodvfy")
    report = subprocess.run([tool, "-new", str(path)], capture_output=True, text=True)
    return [line for line in (report.stdout + report.stderr).splitlines()
            if line.startswith("Error")]


def eventually(condition: Callable[[], bool], timeout: float = 20.0,
               interval: float = 0.05) -> None:
    """Wait until ``condition()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        time.sleep(interval)


# -- peers ---------------------------------------------------------------------------

@contextmanager
def running_pacs(network: Path, data_dir: Path, port: int
                 ) -> Iterator[ThreadedAssociationServer]:
    """The archive in this process on ``port``; it listens before this yields."""
    settings = load_settings("pacs", ["--config", str(network), "--port", str(port),
                                      "--data-dir", str(data_dir)], environ={})
    server = start_server(settings)
    try:
        yield server
    finally:
        server.shutdown()


@contextmanager
def running_wlmscpfs(folder: Path, items: list[Dataset], port: int) -> Iterator[Path]:
    """DCMTK's worklist file SCP serving ``items`` as FOVEA_MWL (written with dump2dcm)."""
    wlmscpfs = require_tool("wlmscpfs")
    dump2dcm = require_tool("dump2dcm")
    database_dir = folder / WORKLIST_AE
    database_dir.mkdir(parents=True)
    (database_dir / "lockfile").touch()
    for number, item in enumerate(items):
        dump = folder / f"item{number}.dump"
        dump.write_text(dump_text(item), encoding="utf-8")
        subprocess.run([dump2dcm, "-q", str(dump), str(database_dir / f"item{number}.wl")],
                       check=True, capture_output=True)
    process = subprocess.Popen([wlmscpfs, "-dfp", str(folder), str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield database_dir
    finally:
        process.terminate()
        process.wait(timeout=10)


def dump_text(ds: Dataset, depth: int = 0) -> str:
    """A dataset in dcmdump's text form, as dump2dcm reads it."""
    lines = []
    for element in ds:
        tag = f"({element.tag.group:04x},{element.tag.element:04x})"
        if element.VR == "SQ":
            lines.append(f"{tag} SQ")
            for item in element.value:
                lines.append("(fffe,e000) -")
                lines.append(dump_text(item, depth + 1))
                lines.append("(fffe,e00d) -")
            lines.append("(fffe,e0dd) -")
        else:
            value = "" if element.value is None else str(element.value)
            lines.append(f"{tag} {element.VR} [{value}]")
    return "\n".join(line for line in lines if line)


@contextmanager
def running_storescp(folder: Path, port: int) -> Iterator[Path]:
    """DCMTK's storescp as FOVEA_PACS: it stores, but offers no storage commitment."""
    storescp = require_tool("storescp")
    folder.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen([storescp, "-aet", PACS_AE, "+xa", "-od", str(folder),
                                str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield folder
    finally:
        process.terminate()
        process.wait(timeout=10)
