"""Shared fixtures: a network file, the archive in process or as a process,
DCMTK's storescp as a C-MOVE destination, and helpers to run DCMTK tools."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from imaging_common.settings import Settings, load_settings
from pacs_scp.handlers import PacsContext
from pacs_scp.server import build_context, start_server
from tests.certificates import Pki, make_pki

REPO = Path(__file__).resolve().parent.parent
TEST_CALLERS = ["ECHOSCU", "STORESCU", "FINDSCU", "MOVESCU", "GETSCU", "TESTSCU", "COMMITSCU"]
DEST_AE = "DESTSCP"
#: The EMR as a DICOM peer (it fetches photographs by C-GET).
EMR_AE = "FOVEA_EMR"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Undo a test's configure_logging: its handler writes to that test's
    captured stderr, which pytest closes when the test ends."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def require_tool(name: str) -> str:
    """The path of a DCMTK or dicom3tools program; skips the test without it.

    The virtual environment's own folder is not searched: pynetdicom installs
    Python look-alikes of echoscu, findscu, storescp and others there.
    """
    venv_bin = Path(sys.executable).parent
    search = [folder for folder in os.environ.get("PATH", "").split(os.pathsep)
              if folder and Path(folder) != venv_bin]
    path = shutil.which(name, path=os.pathsep.join(search))
    if path is None:
        pytest.skip(f"{name} is not installed (make test installs dcmtk and dicom3tools)")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    """Return once something accepts TCP connections on ``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


def write_network(path: Path, dest_port: int, commit_port: int | None = None) -> Path:
    """Write a network file for tests: DCMTK's default AE titles are known."""
    accepts = ", ".join(f'"{ae}"' for ae in (*TEST_CALLERS, EMR_AE))
    commit = f"port = {commit_port}" if commit_port else ""
    path.write_text(f"""
[settings]
max_associations = 16
acse_timeout = 10
dimse_timeout = 20
network_timeout = 30

[nodes.pacs]
ae_title = "FOVEA_PACS"
host = "127.0.0.1"
port = 0
accepts = [{accepts}]
move_destinations = ["{DEST_AE}"]

[nodes.dest]
ae_title = "{DEST_AE}"
host = "127.0.0.1"
port = {dest_port}

[nodes.commitscu]
ae_title = "COMMITSCU"
host = "127.0.0.1"
{commit}

[nodes.emr]
ae_title = "{EMR_AE}"
host = "127.0.0.1"
""")
    return path


@dataclass
class RunningPacs:
    settings: Settings
    port: int
    context: PacsContext | None = None

    @property
    def ae_title(self) -> str:
        return self.settings.ae_title

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    def address(self) -> list[str]:
        return ["-aec", self.ae_title, "127.0.0.1", str(self.port)]


POSTGRES_ADMIN_URL = os.environ.get(
    "FOVEA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """Create a PostgreSQL database for one test and drop it after.

    Skips the test with a clear message where no PostgreSQL server answers.
    """
    try:
        admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            name = f"fovea_test_{uuid.uuid4().hex[:12]}"
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        pytest.skip(f"no PostgreSQL server answers at {POSTGRES_ADMIN_URL}: {exc}")
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The index database: an SQLite file, then a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'index.db'}"
        return
    with throwaway_postgres() as url:
        yield url


@pytest.fixture
def dest_port() -> int:
    return free_port()


@pytest.fixture
def network_file(tmp_path: Path, dest_port: int) -> Path:
    return write_network(tmp_path / "network.toml", dest_port)


def pacs_settings(network_file: Path, data_dir: Path, *extra: str) -> Settings:
    """Settings of an archive on a free port, as ``python -m pacs_scp`` reads them."""
    return load_settings("pacs", ["--config", str(network_file), "--port", "0",
                                  "--data-dir", str(data_dir), *extra], environ={})


@pytest.fixture
def pacs(tmp_path: Path, network_file: Path, database_url: str) -> Iterator[RunningPacs]:
    """The archive, in this process, on a free port, on each database."""
    settings = pacs_settings(network_file, tmp_path / "pacs", "--database-url", database_url)
    server = start_server(settings)
    running = RunningPacs(settings, server.server_address[1], build_context(settings))
    yield running
    server.shutdown()


def start_pacs_process(network_file: Path, data_dir: Path) -> tuple[subprocess.Popen[str], int]:
    """Start ``python -m pacs_scp`` and return it with its port once it listens."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pacs_scp", "--config", str(network_file), "--port", "0",
         "--data-dir", str(data_dir), "--log-format", "json"],
        cwd=REPO, stderr=subprocess.PIPE, text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if event.get("event") == "listening":
            return process, int(event["port"])
    raise RuntimeError(f"the archive exited before listening: {process.wait()}")


@pytest.fixture
def storescp(tmp_path: Path, dest_port: int) -> Iterator[Path]:
    """DCMTK's storescp as the C-MOVE destination; yields its output folder."""
    storescp = require_tool("storescp")
    out = tmp_path / "received"
    out.mkdir()
    process = subprocess.Popen(
        [storescp, "-aet", DEST_AE, "+xa", "-od", str(out), str(dest_port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(dest_port)
        yield out
    finally:
        process.terminate()
        process.wait(timeout=10)


def dcmtk(*args: str, check: bool = True,
          timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a DCMTK tool and return its result (output in stdout and stderr)."""
    result = subprocess.run([require_tool(args[0]), *args[1:]], capture_output=True,
                            text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA and certificates for the TLS tests (tests/certificates.py)."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def identity_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The EMR as the identity source, serving sign-ons over HTTP (tests/identity.py)."""
    from tests.identity import running_identity_provider
    with running_identity_provider(tmp_path_factory.mktemp("identity")) as provider:
        yield provider
