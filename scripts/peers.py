"""Receivers and corpora for the benchmarks: our archive, DCMTK's storescp, Orthanc.

Each receiver runs as its own process on a free port with its own folder, so
that every run starts from an empty archive, and stops when its ``with`` block
ends.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: The AE title every benchmark sender uses; our archive's network file accepts it.
SENDER_AE = "BENCHSCU"

#: How the archive is started (a different entry point can be given for experiments).
PACS_MODULE = os.environ.get("FOVEA_BENCH_PACS", "-m pacs_scp").split()

#: DCMTK (and Orthanc, built on it) leave Nagle's algorithm on unless told.
NODELAY_ENV = {**os.environ, "TCP_NODELAY": "1"}


@dataclass(frozen=True)
class Receiver:
    """A running storage SCP."""

    name: str
    ae_title: str
    port: int
    folder: Path
    pid: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


def require(tool: str) -> str:
    """The path of a DCMTK or Orthanc program, not pynetdicom's look-alike in the venv."""
    venv_bin = Path(sys.executable).parent
    search = [folder for folder in os.environ.get("PATH", "").split(os.pathsep)
              if folder and Path(folder) != venv_bin]
    path = shutil.which(tool, path=os.pathsep.join(search))
    if path is None:
        raise SystemExit(f"{tool} is not installed (apt-get install dcmtk orthanc)")
    return path


def write_network(folder: Path) -> Path:
    """A network file for our archive that accepts the benchmark's sender."""
    path = folder / "network.toml"
    path.write_text(f"""
[settings]
max_associations = 8
log_format = "json"

[nodes.pacs]
ae_title = "FOVEA_PACS"
host = "127.0.0.1"
port = 0
accepts = ["{SENDER_AE}"]
move_destinations = []
""")
    return path


@contextmanager
def running(command: list[str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` until the block ends; DCMTK-based peers get TCP_NODELAY=1."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                   cwd=REPO, env=NODELAY_ENV)
        try:
            wait_for_port(port)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@contextmanager
def fovea(folder: Path, database_url: str = "") -> Iterator[Receiver]:
    """Our archive, ``python -m pacs_scp``, with an empty data folder."""
    folder.mkdir(parents=True)
    port = free_port()
    command = [sys.executable, *PACS_MODULE, "--config", str(write_network(folder)),
               "--port", str(port), "--data-dir", str(folder / "data")]
    if database_url:
        command += ["--database-url", database_url]
    with running(command, port, folder / "pacs.log") as process:
        yield Receiver("fovea", "FOVEA_PACS", port, folder / "data", process.pid)


@contextmanager
def storescp(folder: Path) -> Iterator[Receiver]:
    """DCMTK's storescp, accepting every transfer syntax it knows."""
    folder.mkdir(parents=True)
    port = free_port()
    command = [require("storescp"), "-aet", "STORESCP", "+xa", "-od", str(folder), str(port)]
    with running(command, port, folder.parent / f"{folder.name}.log") as process:
        yield Receiver("storescp", "STORESCP", port, folder, process.pid)


@contextmanager
def orthanc(folder: Path) -> Iterator[Receiver]:
    """Orthanc with its default storage settings and no plugins."""
    folder.mkdir(parents=True)
    port, http_port = free_port(), free_port()
    config = {
        "Name": "bench", "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "index"), "DicomAet": "ORTHANC",
        "DicomPort": port, "HttpPort": http_port, "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False, "DicomCheckCalledAet": False,
        "Plugins": [], "UnknownSopClassAccepted": True,
    }
    (folder / "orthanc.json").write_text(json.dumps(config))
    command = [require("Orthanc"), str(folder / "orthanc.json")]
    with running(command, port, folder / "orthanc.log") as process:
        wait_for_port(http_port)
        yield Receiver("orthanc", "ORTHANC", port, folder, process.pid)


def orthanc_instances(receiver: Receiver) -> int:
    """How many instances Orthanc holds, from its REST API."""
    config = json.loads((receiver.folder / "orthanc.json").read_text())
    url = f"http://127.0.0.1:{config['HttpPort']}/statistics"
    with urllib.request.urlopen(url, timeout=10) as response:
        return int(json.load(response)["CountInstances"])


def stored_count(receiver: Receiver) -> int:
    """How many instances the receiver has stored."""
    if receiver.name == "orthanc":
        return orthanc_instances(receiver)
    return sum(1 for path in receiver.folder.rglob("*") if path.is_file()
               and (path.suffix == ".dcm" or receiver.name == "storescp")
               and ".incoming" not in path.parts)


def storescu(receiver: Receiver, corpus: Path, proposal: str) -> float:
    """Send every file of ``corpus`` over one association; return the seconds taken."""
    command = [require("storescu"), "-aet", SENDER_AE, "-aec", receiver.ae_title,
               "+sd", "-R", proposal, "127.0.0.1", str(receiver.port), str(corpus)]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=NODELAY_ENV)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"storescu to {receiver.name} failed:\n{result.stderr[-2000:]}")
    return seconds
