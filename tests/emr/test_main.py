"""``python -m emr`` serves the app on its port; in production it refuses a default secret."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.conftest import REPO, free_port, wait_for_port


def test_python_m_emr_serves_the_login_page(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "emr", "--port", str(port), "--data-dir", str(tmp_path),
         "--log-format", "json"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    try:
        wait_for_port(port, timeout=30)
        login = f"http://127.0.0.1:{port}/login?next=/patients%3Fname%3DQuixotic"
        with urllib.request.urlopen(login, timeout=10) as page:
            assert page.status == 200
            assert b"Log in" in page.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/openapi.json",
                                    timeout=10) as spec:
            assert spec.headers["Content-Type"] == "application/json"
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=10)
    assert (tmp_path / "emr.db").exists()
    assert '"event": "listening"' in errors
    assert '"route": "/login"' in errors
    assert "Quixotic" not in errors  # no URL with its query string reaches the log


def test_production_without_a_secret_exits_with_a_message(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "emr", "--data-dir", str(tmp_path), "--environment",
         "production"], cwd=REPO, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 2
    assert "secret key must be set" in result.stderr
