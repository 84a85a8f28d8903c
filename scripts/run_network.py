"""Run the whole Fovea network on this machine: ``make run``.

1. Keeps the network's secrets in ``<run dir>/secrets.env`` (made once, mode
   0600): the session keys, the service tokens on the EMR's REST API and the
   demo accounts' password. Values already in the environment win.
2. Starts Redis under the process manager unless one answers at ``REDIS_URL``.
3. Creates the demo accounts, patients and orders once, in the EMR: people sign on
   to the station and the AI node's page through it.
4. Starts every service of the ``Procfile`` under honcho, waits until each
   answers, and prints where to click, the demo logins and the DIMSE addresses
   a viewer needs. Ctrl-C stops everything; the data stay in the run folder.

The network runs in demo mode (``FOVEA_DEMO=1`` unless the environment says
otherwise): the station offers simulated capture, which ``make demo`` uses.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parent.parent
SECRET_NAMES = ("FOVEA_SECRET_KEY", "FOVEA_STATION_SECRET_KEY", "FOVEA_AI_SECRET_KEY",
                "FOVEA_SIGN_ON_SECRET_STATION", "FOVEA_SIGN_ON_SECRET_AI",
                "FOVEA_EMR_TOKEN_WORKLIST", "FOVEA_EMR_TOKEN_AI", "FOVEA_DEMO_PASSWORD")
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: Every service and the address that answers once it is up.
SERVICES = {"pacs": 11112, "worklist": 11113, "emr": 5000, "station": 5001, "ai": 5003}
#: The Prometheus metrics listeners of the DIMSE-only services (metrics_port in
#: configs/network.toml); the web services serve /metrics on their own ports.
METRICS_PORTS = {"pacs metrics": 9112, "worklist metrics": 9113}
START_TIMEOUT = 120.0


def load_secrets(path: Path) -> dict[str, str]:
    """The run's secrets, made on the first run and kept for the next ones."""
    values: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            name, _, value = line.partition("=")
            if name and not name.startswith("#"):
                values[name.strip()] = value.strip()
    missing = [name for name in SECRET_NAMES if not values.get(name)]
    for name in missing:
        values[name] = secrets.token_urlsafe(32 if "PASSWORD" not in name else 12)
    if missing:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = "# Fovea secrets for `make run` on this machine; keep private.\n" + "".join(
            f"{name}={value}\n" for name, value in values.items())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
    return values


def answers(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def redis_answers(url: str) -> bool:
    """True when a Redis server answers PING at ``url``."""
    from redis import Redis
    from redis.exceptions import RedisError

    try:
        return bool(Redis.from_url(url, socket_connect_timeout=1).ping())
    except RedisError:
        return False


def run(command: list[str], env: dict[str, str],
        stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO, env=env, text=True, capture_output=True,
                          input=stdin)


def seed_demo(run_dir: Path, env: dict[str, str]) -> list[str]:
    """Create the demo accounts and data once; returns lines to print."""
    marker = run_dir / ".demo-seeded"
    if marker.exists():
        return []
    python = sys.executable
    steps = [
        ("EMR", [python, "-m", "flask", "--app", "emr", "seed-demo"],
         {"FOVEA_DATA_DIR": str(run_dir / "emr")}),
    ]
    lines = []
    for name, command, extra in steps:
        result = run(command, {**env, **extra}, stdin=env["FOVEA_DEMO_PASSWORD"] + "\n")
        if result.returncode != 0:
            raise SystemExit(f"demo data for the {name} failed:\n{result.stdout}{result.stderr}")
        lines.append(f"  {name}: {result.stdout.strip().splitlines()[-1]}")
    marker.write_text("demo accounts and data created\n")
    return lines


def wait_for_services(stop_at: float) -> list[str]:
    """Names of the services that did not answer before ``stop_at``."""
    waiting = dict(SERVICES)
    while waiting and time.monotonic() < stop_at:
        for name, port in list(waiting.items()):
            if answers("127.0.0.1", port):
                del waiting[name]
        time.sleep(0.5)
    return sorted(waiting)


def banner(env: dict[str, str], run_dir: Path) -> str:
    password = env["FOVEA_DEMO_PASSWORD"]
    return f"""
Fovea is running (data in {run_dir}/, secrets in {run_dir}/secrets.env). Ctrl-C stops it.

  EMR (nurses, ophthalmologists)   http://127.0.0.1:5000/   nurse / ophthalmologist / admin
  Fundus imaging station           http://127.0.0.1:5001/   technician (demo mode:
                                                            simulated capture on)
  AI node (run the grading)        http://127.0.0.1:5003/   nurse
  demo password for every login    {password}
  one sign-on: the station and the AI page send you to the EMR's log-in, once

  DICOM: PACS FOVEA_PACS 127.0.0.1:11112 (a viewer calls as WEASIS_AE, listens on 11115)
         worklist + MPPS FOVEA_MWL 127.0.0.1:11113, AI node FOVEA_AI 127.0.0.1:11114
         the EMR calls the PACS as FOVEA_EMR (C-GET of the photographs, C-STORE)
  try:   echoscu -aet WEASIS_AE -aec FOVEA_PACS 127.0.0.1 11112

  Prometheus /metrics: http://127.0.0.1:9112/metrics (PACS), :9113/metrics (worklist),
         :5000/metrics (EMR), :5001/metrics (station), :5003/metrics (AI node page)
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("var"),
                        help="folder that keeps every service's data between runs")
    args = parser.parse_args(argv)
    run_dir = args.data_dir.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **{k: v for k, v in load_secrets(run_dir / "secrets.env").items()
                            if not os.environ.get(k)}}
    redis_url = env.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    env.setdefault("FOVEA_DEMO", "1")  # simulated capture at the station (make demo uses it)
    env.update(FOVEA_RUN_DIR=str(run_dir), FOVEA_REDIS_PORT=str(urlparse(redis_url).port or 6379),
               PYTHONUNBUFFERED="1", FOVEA_LOG_FORMAT=env.get("FOVEA_LOG_FORMAT", "console"))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    processes = [name for name in ("pacs", "worklist", "emr", "station", "ai", "worker")]
    if not redis_answers(redis_url):
        if shutil.which("redis-server") is None:
            raise SystemExit(f"no Redis answers at {redis_url} and redis-server is not "
                             "installed: apt-get install redis-server, or set REDIS_URL")
        (run_dir / "redis").mkdir(exist_ok=True)
        processes.insert(0, "redis")
    busy = [f"{name} ({port})" for name, port in {**SERVICES, **METRICS_PORTS}.items()
            if answers("127.0.0.1", port)]
    if busy:
        raise SystemExit(f"ports already in use: {', '.join(busy)}; is Fovea running already?")
    for name in ("pacs", "worklist", "emr", "station"):
        (run_dir / name).mkdir(exist_ok=True)
    seeded = seed_demo(run_dir, env)
    honcho = subprocess.Popen([sys.executable, "-m", "honcho", "-f", str(REPO / "Procfile"),
                               "-d", str(REPO), "start", *processes], cwd=REPO, env=env)
    signal.signal(signal.SIGINT, lambda *_: honcho.send_signal(signal.SIGINT))
    signal.signal(signal.SIGTERM, lambda *_: honcho.send_signal(signal.SIGTERM))
    late = wait_for_services(time.monotonic() + START_TIMEOUT)
    if honcho.poll() is None:
        if late:
            print(f"\nstill not answering after {START_TIMEOUT:.0f} s: {', '.join(late)}",
                  flush=True)
        if seeded:
            print("\nDemo data created:\n" + "\n".join(seeded), flush=True)
        print(banner(env, run_dir), flush=True)
    return honcho.wait()


if __name__ == "__main__":
    sys.exit(main())
