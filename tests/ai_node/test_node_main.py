"""The node's commands as an operator starts them: ``python -m ai_node`` and its worker."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import http.client
from pathlib import Path

from pynetdicom import AE

from imaging_common.sop_classes import VERIFICATION
from tests.ai_node.node_peers import AI_SIGN_ON_SECRET, AI_TOKEN, SHIPPED_MODEL, NetworkFile
from tests.conftest import REPO, free_port

pytest_plugins = ["tests.ai_node.node_fixtures"]


def _environment(redis_url: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "FOVEA_EMR_TOKEN_AI": AI_TOKEN, "REDIS_URL": redis_url,
            "FOVEA_SIGN_ON_SECRET_AI": AI_SIGN_ON_SECRET}


def test_the_node_serves_its_scp_and_page_until_terminated(node_network: NetworkFile,
                                                           tmp_path: Path,
                                                           redis_url: str) -> None:
    http_port = free_port()
    emr_url = f"http://127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [sys.executable, "-m", "ai_node", "--config", str(node_network.path),
         "--data-dir", str(tmp_path), "--http-port", str(http_port), "--log-format", "json",
         "--emr-url", emr_url],
        cwd=REPO, env=_environment(redis_url), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        for line in process.stderr:  # ready once the page listens (the SCP listens first)
            if line.startswith("{") and json.loads(line).get("event") == "page listening":
                break
        else:
            raise AssertionError(f"python -m ai_node exited: {process.wait()}")
        connection = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
        connection.request("GET", "/login")
        answer = connection.getresponse()  # nurses sign on through the EMR
        assert answer.status == 302
        assert answer.getheader("Location", "").startswith(f"{emr_url}/sign-on/authorize?")
        connection.close()
        ae = AE("FOVEA_PACS")
        ae.add_requested_context(VERIFICATION)
        assoc = ae.associate("127.0.0.1", node_network.ai_port, ae_title="FOVEA_AI")
        assert assoc.is_established and assoc.send_c_echo().Status == 0
        assoc.release()
        assert (tmp_path / "ai" / "secret-key").stat().st_mode & 0o777 == 0o600
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0


def test_a_burst_worker_loads_the_model_and_stops_when_the_queue_is_empty(
        node_network: NetworkFile, tmp_path: Path, redis_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ai_node.worker", "--config", str(node_network.path),
         "--data-dir", str(tmp_path), "--burst", "--log-format", "json"],
        cwd=REPO, env=_environment(redis_url), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    ready = [e for e in events if e.get("event") == "worker ready"]
    assert ready and (ready[0]["model"], ready[0]["version"]) == SHIPPED_MODEL
