"""The whole network as separate processes, for tests that kill and restart them.

The services run as ``make run`` runs them (the ``Procfile``'s commands, the
demo accounts from ``scripts/run_network.py``), but each is its own process,
so that a test can ``kill -9`` one and start it again; their ports are free
ones, their data in one folder, their logs JSON lines in one file each.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[2]
#: Seconds a service may take to answer after it is started.
START_TIMEOUT = 90.0
#: The service processes, in the order they start (the AI node's web page needs the EMR).
SERVICES = ("pacs", "worklist", "emr", "station", "ai", "worker")
#: What answers once a service is up: a port of its node, or a log line.
READY_PORTS = {"pacs": ("pacs", "port"), "worklist": ("worklist", "port"),
               "emr": ("emr", "http_port"), "station": ("station", "http_port"),
               "ai": ("ai", "http_port")}
WORKER_READY = "worker ready"


def load_script(name: str) -> ModuleType:
    """A module of ``scripts/`` (not a package), loaded once."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while defined
    spec.loader.exec_module(module)
    return module


#: Ports handed out by :func:`free_port`, so that none is handed out twice.
_TAKEN: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, below Linux's ephemeral range (32768-60999).

    The services start seconds after their ports are chosen; a port from the
    ephemeral range could meanwhile become the local end of some outgoing
    connection, and the service could not bind it.
    """
    while True:
        port = random.randrange(20000, 32000)
        if port in _TAKEN:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _TAKEN.add(port)
        return port


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def network_file(path: Path, settings: dict[str, str],
                 extra: str = "") -> dict[str, dict[str, int]]:
    """``configs/network.toml`` with free ports, ``settings`` (``key = value`` lines
    replaced wherever the key appears) and ``extra`` tables; the ports by node."""
    text = (REPO / "configs" / "network.toml").read_text()
    ports: dict[str, int] = {}

    def fresh(match: re.Match[str]) -> str:
        old = match.group(2)
        ports.setdefault(old, free_port())
        return f"{match.group(1)}{ports[old]}"

    text = re.sub(r"(?m)^(\w*port\s*=\s*)(\d+)", fresh, text)
    for key, value in settings.items():
        text, count = re.subn(rf"(?m)^{re.escape(key)}\s*=.*$", f"{key} = {value}", text)
        assert count, f"{key} is not in configs/network.toml"
    text += extra
    path.write_text(text)
    import tomllib

    nodes = tomllib.loads(text)["nodes"]
    return {name: {k: int(v) for k, v in node.items() if k.endswith("port")}
            for name, node in nodes.items()}


def procfile() -> dict[str, str]:
    """The Procfile's commands by process name."""
    commands = {}
    for line in (REPO / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if command and not line.startswith("#"):
            commands[name.strip()] = command.strip()
    return commands


class LocalNetwork:
    """Redis, the PACS, the worklist, the EMR, the station, the AI node and a worker."""

    def __init__(self, folder: Path, settings: dict[str, str], extra: str = "") -> None:
        self.folder = folder
        self.config = folder / "network.toml"
        self.ports = network_file(self.config, settings, extra)
        self.redis_port = free_port()
        run_network = load_script("run_network")
        secrets = run_network.load_secrets(folder / "secrets.env")
        self.env = {**os.environ, **secrets,
                    "FOVEA_CONFIG": str(self.config), "FOVEA_RUN_DIR": str(folder),
                    "FOVEA_REDIS_PORT": str(self.redis_port),
                    "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
                    "FOVEA_LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1",
                    "FOVEA_DEMO": "1",  # as make run: the screening uses simulated capture
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
                            f"{os.environ.get('PATH', '')}"}
        self.commands = procfile()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        for name in ("redis", "pacs", "worklist", "emr", "station"):
            (folder / name).mkdir(exist_ok=True)
        run_network.seed_demo(folder, self.env)

    # --- processes --------------------------------------------------------------------

    def log_path(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    def start(self, name: str) -> None:
        """Start one process and wait until it answers."""
        assert self.processes.get(name) is None or self.processes[name].poll() is not None
        command = [part.replace("${FOVEA_RUN_DIR}", str(self.folder))
                   .replace("${FOVEA_REDIS_PORT}", str(self.redis_port))
                   for part in shlex.split(self.commands[name])]
        ready_before = self.count(name, WORKER_READY)
        with self.log_path(name).open("ab") as log:
            self.processes[name] = subprocess.Popen(command, cwd=REPO, env=self.env,
                                                    stdout=log, stderr=subprocess.STDOUT)
        self.wait_ready(name, ready_before)

    def wait_ready(self, name: str, ready_before: int = 0) -> None:
        process = self.processes[name]
        stop_at = time.monotonic() + START_TIMEOUT
        while time.monotonic() < stop_at:
            if process.poll() is not None:
                raise AssertionError(f"{name} exited ({process.returncode}):\n"
                                     f"{self.log_path(name).read_text()[-3000:]}")
            if self._ready(name, ready_before):
                return
            time.sleep(0.2)
        raise AssertionError(f"{name} did not answer in {START_TIMEOUT:.0f} s")

    def _ready(self, name: str, ready_before: int) -> bool:
        if name == "redis":
            return answers(self.redis_port)
        if name == "worker":
            return self.count(name, WORKER_READY) > ready_before
        node, key = READY_PORTS[name]
        return answers(self.ports[node][key])

    def start_all(self) -> None:
        for name in ("redis", *SERVICES):
            self.start(name)

    def kill(self, name: str) -> None:
        """``kill -9``: no clean-up of any kind."""
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self, name: str) -> None:
        process = self.processes.get(name)
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def pause(self, name: str) -> None:
        """Freeze a process (it keeps its sockets but answers nothing)."""
        self.processes[name].send_signal(signal.SIGSTOP)

    def resume(self, name: str) -> None:
        self.processes[name].send_signal(signal.SIGCONT)

    def stop_all(self) -> None:
        for name in reversed(list(self.processes)):
            if self.processes[name].poll() is None:
                self.resume(name)
            self.stop(name)

    # --- logs -------------------------------------------------------------------------

    def log_events(self, name: str) -> list[dict[str, Any]]:
        """The JSON log lines of one process (other output is skipped)."""
        events = []
        for line in self.log_path(name).read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return events

    def count(self, name: str, event: str) -> int:
        if not self.log_path(name).exists():
            return 0
        return sum(1 for e in self.log_events(name) if e.get("event") == event)


def wait_until(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll ``check`` until it returns something true; fail naming ``what``."""
    stop_at = time.monotonic() + timeout
    while time.monotonic() < stop_at:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
