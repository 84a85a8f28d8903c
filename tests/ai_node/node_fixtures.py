"""Fixtures that start the AI node's real peers: Redis, the PACS, the EMR, the node itself.

Each test gets its own network file (the PACS and the node on free ports),
an empty Redis database, an archive, an EMR on a fresh SQLite database served
over HTTP on a thread, and an AI node configuration pointing at all of them.
A test module loads them with ``pytest_plugins = ["tests.ai_node.node_fixtures"]``;
their names do not clash with the fixtures of ``tests/conftest.py``.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from werkzeug.serving import make_server

from ai_node.config import AiConfig, load_config
from ai_node.dispatch import Dispatcher
from ai_node.emr_api import EmrApi
from ai_node.inbox import Inbox
from ai_node.web import create_app as create_node_app
from ai_node.scp import start_storage_scp
from emr import EmrConfig, ServiceToken, create_app
from emr.config import SignOnClient
from emr.accounts import create_user
from emr.database import database, session
from emr.models import Role
from imaging_common.settings import load_settings
from pacs_scp.server import start_server
from tests.ai_node.node_peers import (AI_TOKEN, FAST_HASH, AI_SIGN_ON_SECRET, PASSWORD,
                                      STATION_SIGN_ON_SECRET,
                                      STATION_AE, LiveEmr, LivePacs, NetworkFile, Nurse,
                                      write_node_network)
from tests.conftest import REPO, free_port


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway redis-server for the session, without persistence."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (make tools installs it)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path_factory.mktemp("redis"))],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    for line in process.stdout:  # wait for readiness, not for a while
        if "Ready to accept connections" in line:
            break
    else:
        raise RuntimeError(f"redis-server exited: {process.wait()}")
    threading.Thread(target=process.stdout.read, daemon=True).start()  # drain the pipe
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def redis(redis_url: str) -> Iterator[Redis]:
    """The session's Redis, emptied for this test."""
    connection = Redis.from_url(redis_url)
    connection.flushall()
    yield connection
    connection.close()


@pytest.fixture
def node_network(tmp_path: Path) -> NetworkFile:
    return write_node_network(tmp_path / "network.toml")


@pytest.fixture
def live_pacs(tmp_path: Path, node_network: NetworkFile) -> Iterator[LivePacs]:
    """The archive in this process on its network-file port, with an SQLite index."""
    settings = load_settings("pacs", ["--config", str(node_network.path),
                                      "--data-dir", str(tmp_path / "pacs"),
                                      "--database-url", f"sqlite:///{tmp_path / 'pacs.db'}"],
                             environ={})
    live = LivePacs(settings, start_server(settings))
    yield live
    live.stop()


@pytest.fixture
def ai_page_port() -> int:
    """Where a browser test serves the node's page (the EMR sends nurses back there)."""
    return free_port()


@pytest.fixture
def station_page_port() -> int:
    """Where a browser test serves the station's pages."""
    return free_port()


@pytest.fixture
def live_emr(tmp_path: Path, ai_page_port: int, station_page_port: int) -> Iterator[LiveEmr]:
    """The EMR on a fresh SQLite database, over HTTP on a free port, with the AI's token;
    nurses sign on to the node's page through it."""
    config = EmrConfig(
        secret_key="emr-test-secret-" + "x" * 32,
        database_url=f"sqlite:///{tmp_path / 'emr.db'}", environment="testing",
        data_dir=tmp_path / "emr", stations=(STATION_AE,), password_hash_method=FAST_HASH,
        service_tokens=(ServiceToken("ai", AI_TOKEN, frozenset(
            {"orders:read", "orders:state", "patients:read", "results:write"})),),
        sign_on_clients=(
            SignOnClient("ai", AI_SIGN_ON_SECRET, frozenset({"nurse"}),
                         f"http://127.0.0.1:{ai_page_port}/sign-on/return"),
            # a small clinic whose nurses take the photographs too
            SignOnClient("station", STATION_SIGN_ON_SECRET, frozenset({"technician", "nurse"}),
                         f"http://127.0.0.1:{station_page_port}/sign-on/return")))
    app = create_app(config)
    with app.app_context():
        create_user(session(), "nurse", "Nina Nurse", Role.NURSE, PASSWORD, FAST_HASH)
        create_user(session(), "nina", "Nina Nurse", Role.NURSE, PASSWORD, FAST_HASH)
        create_user(session(), "tech", "Tess Technician", Role.TECHNICIAN, PASSWORD, FAST_HASH)
        session().commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)  # listening once made
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield LiveEmr(app, server)
    server.shutdown()
    thread.join(timeout=10)
    database(app).engine.dispose()


@pytest.fixture
def ai_config(tmp_path: Path, node_network: NetworkFile, live_emr: LiveEmr, redis: Redis,
              redis_url: str) -> AiConfig:
    return load_config(["--config", str(node_network.path), "--data-dir", str(tmp_path / "ai"),
                        "--emr-url", live_emr.url, "--redis-url", redis_url,
                        "--registry", str(REPO / "models")],
                       environ={"FOVEA_EMR_TOKEN_AI": AI_TOKEN,
                                "FOVEA_AI_SECRET_KEY": "ai-page-test-secret-" + "x" * 32,
                                "FOVEA_SIGN_ON_SECRET_AI": AI_SIGN_ON_SECRET})


@pytest.fixture
def storage_scp(ai_config: AiConfig) -> Iterator[Inbox]:
    """The node's storage SCP on its network-file port; yields its inbox."""
    inbox = Inbox(ai_config.inbox_dir)
    server = start_storage_scp(ai_config.settings, inbox)
    yield inbox
    server.shutdown()


@pytest.fixture
def dispatcher(ai_config: AiConfig, redis: Redis) -> Dispatcher:
    emr = EmrApi.connect(ai_config.emr_url, ai_config.emr_token, ai_config.emr_timeout)
    return Dispatcher(redis, emr, ai_config)


@pytest.fixture
def nurse(ai_config: AiConfig, dispatcher: Dispatcher, live_emr: LiveEmr) -> Iterator[Nurse]:
    """A test client of the node's page, not yet logged in."""
    app = create_node_app(ai_config, dispatcher, testing=True)
    with app.test_client() as client:
        yield Nurse(client, live_emr)
