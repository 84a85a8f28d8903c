"""``python -m modality_scu`` serves the pages on its HTTP port with the outbox sender
running, to technicians who sign on through the EMR."""

from __future__ import annotations

import http.cookiejar
import re
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

from tests.conftest import REPO, free_port, wait_for_port
from tests.identity import PASSWORD, running_identity_provider

from .conftest import SECRET, write_network


def _environment(tmp_path: Path, network: Path, **extra: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "FOVEA_CONFIG": str(network),
            "FOVEA_DATA_DIR": str(tmp_path / "station"), "FOVEA_STATION_SECRET_KEY": SECRET,
            **extra}


def test_serve_the_pages_to_a_technician_signed_on_at_the_emr(tmp_path: Path) -> None:
    network = write_network(tmp_path / "network.toml", free_port(), free_port())
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running_identity_provider(tmp_path / "emr", station_url=base) as emr:
        process = subprocess.Popen(
            [sys.executable, "-m", "modality_scu", "--port", str(port), "--log-format", "json"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=_environment(tmp_path, network, **emr.environ("station")))
        try:
            wait_for_port(port, timeout=30)
            text = _sign_on(emr.url, base)
        finally:
            process.terminate()
            output, errors = process.communicate(timeout=20)
    assert "Tess Technician" in text
    assert "The worklist (FOVEA_MWL at 127.0.0.1:" in text  # none runs in this test
    assert "Fovea station ready on http://127.0.0.1:" in output
    assert '"event": "listening"' in errors
    assert '"event": "outbox sender started"' in errors
    assert '"event": "stopped"' in errors  # SIGTERM: the sender ended its round
    assert (tmp_path / "station" / "station.db").exists()


def test_production_without_a_secret_exits_with_a_message(tmp_path: Path) -> None:
    network = write_network(tmp_path / "network.toml", free_port(), free_port())
    environment = _environment(tmp_path, network)
    del environment["FOVEA_STATION_SECRET_KEY"]
    result = subprocess.run([sys.executable, "-m", "modality_scu", "--environment",
                             "production"], cwd=REPO, capture_output=True, text=True,
                            timeout=60, env=environment)
    assert result.returncode == 2
    assert "secret key must be set" in result.stderr


def _sign_on(emr: str, station: str) -> str:
    """Log in at the EMR, then open the station as a browser would; return its worklist."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with opener.open(f"{emr}/login", timeout=10) as page:
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                          page.read().decode()).group(1)  # type: ignore[union-attr]
    body = urllib.parse.urlencode({"csrf_token": token, "username": "tech",
                                   "password": PASSWORD}).encode()
    opener.open(f"{emr}/login", data=body, timeout=10).close()
    with opener.open(f"{station}/login", timeout=10) as worklist:  # EMR and back
        assert worklist.url == f"{station}/worklist"
        return str(worklist.read().decode())
