"""docker-compose.yml, its network file and the Dockerfile agree with the
one-machine network (configs/network.toml, Procfile). Docker does not run here."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from imaging_common.settings import load_network, load_settings

REPO = Path(__file__).resolve().parent.parent
COMPOSE_CONFIG = REPO / "configs" / "compose.toml"
#: Each network node and the compose service that runs it; the viewer runs on
#: the Docker host, outside compose.
NODE_SERVICES = {"pacs": "pacs", "worklist": "worklist", "ai": "ai",
                 "station": "station", "emr": "emr"}
OUTSIDE_COMPOSE = {"viewer": "host.docker.internal"}
#: Compose service -> Procfile process.
PROCFILE_NAMES = {"pacs": "pacs", "worklist": "worklist", "emr": "emr",
                  "station": "station", "ai": "ai", "ai-worker": "worker"}
SECRETS = ("FOVEA_SECRET_KEY", "FOVEA_STATION_SECRET_KEY", "FOVEA_AI_SECRET_KEY",
           "FOVEA_SIGN_ON_SECRET_STATION", "FOVEA_SIGN_ON_SECRET_AI",
           "FOVEA_EMR_TOKEN_WORKLIST", "FOVEA_EMR_TOKEN_AI", "POSTGRES_PASSWORD")
DATABASES = {"pacs": "pacs", "emr": "emr", "station": "station"}


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return compose["services"]


def procfile() -> dict[str, str]:
    lines = (REPO / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))


def published(service: dict[str, Any]) -> set[int]:
    return {int(str(port).split(":")[0]) for port in service.get("ports", [])}


def test_every_service_is_there_with_a_health_check(services: dict[str, Any]) -> None:
    assert {"postgres", "redis", *PROCFILE_NAMES} <= set(services)
    for name, service in services.items():
        check = service["healthcheck"]
        if "tools" in service.get("profiles", []):
            continue  # one-shot jobs
        assert check["test"][0] in {"CMD", "CMD-SHELL"}, name
        assert service["restart"] == "unless-stopped", name


def test_compose_network_is_the_network_file_with_service_hosts(
        services: dict[str, Any]) -> None:
    local, local_settings = load_network(REPO / "configs" / "network.toml")
    composed, _ = load_network(COMPOSE_CONFIG)
    assert [n.name for n in composed.nodes] == [n.name for n in local.nodes]
    for node in local.nodes:
        twin = composed.node(node.name)
        assert (twin.ae_title, twin.port, twin.http_port, twin.metrics_port, twin.accepts,
                twin.move_destinations) == (node.ae_title, node.port, node.http_port,
                                            node.metrics_port, node.accepts,
                                            node.move_destinations)
        expected = NODE_SERVICES.get(node.name) or OUTSIDE_COMPOSE[node.name]
        assert twin.host == expected, node.name
        if node.name in NODE_SERVICES:
            assert twin.host in services
    local_tables = tomllib.loads((REPO / "configs" / "network.toml").read_text())
    compose_tables = tomllib.loads(COMPOSE_CONFIG.read_text())
    for table in ("pacs", "emr", "worklist", "ai"):
        assert compose_tables[table] == local_tables[table], table


def test_published_ports_are_the_network_file_ports(services: dict[str, Any]) -> None:
    network, _ = load_network(COMPOSE_CONFIG)
    for node_name, service_name in NODE_SERVICES.items():
        node = network.node(node_name)
        wanted = {p for p in (node.port, node.http_port) if p is not None}
        service = services[service_name]
        assert published(service) == wanted, service_name
        assert all(re.fullmatch(r"(\d+):\1", str(p)) for p in service["ports"])
    assert "ports" not in services["ai-worker"]  # so that it scales
    assert "ports" not in services["postgres"] and "ports" not in services["redis"]


def test_metrics_ports_are_exposed_not_published(services: dict[str, Any]) -> None:
    network, _ = load_network(COMPOSE_CONFIG)
    local, _ = load_network(REPO / "configs" / "network.toml")
    taken = {p for node in local.nodes for p in (node.port, node.http_port) if p}
    for name in ("pacs", "worklist"):
        port = network.node(name).metrics_port
        assert port and port not in taken, name
        assert services[name]["expose"] == [str(port)], name
        assert port not in published(services[name]), name
    worker = services["ai-worker"]
    port = worker["command"][worker["command"].index("--metrics-port") + 1]
    assert worker["expose"] == [port]
    assert f"127.0.0.1:{port}/metrics" in worker["healthcheck"]["test"][-1]
    assert int(port) not in taken | {network.node(n).metrics_port for n in ("pacs", "worklist")}


def test_services_use_the_compose_network_and_bind_everywhere(
        services: dict[str, Any]) -> None:
    for name in PROCFILE_NAMES:
        environment = services[name]["environment"]
        assert environment["FOVEA_CONFIG"] == "/app/configs/compose.toml", name
        assert environment["FOVEA_BIND"] == "0.0.0.0", name
        settings = load_settings(name.replace("-worker", ""), [], environ={
            "FOVEA_CONFIG": str(COMPOSE_CONFIG), "FOVEA_BIND": environment["FOVEA_BIND"]})
        assert settings.bind_address == "0.0.0.0"
    for name in ("emr", "station", "worklist", "ai", "ai-worker"):  # every one with a secret
        assert services[name]["environment"]["FOVEA_ENV"] == "production"


def test_callers_are_expected_from_the_compose_subnet_or_the_container(
        services: dict[str, Any]) -> None:
    """The address check (calls_from) lets the containers, scaled workers and
    in-container health checks call; the viewer may call from anywhere."""
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    subnets = {c["subnet"] for c in compose["networks"]["default"]["ipam"]["config"]}
    network, _ = load_network(COMPOSE_CONFIG)
    for node in network.nodes:
        if node.name == "viewer":
            assert node.calls_from == ("*",)
        elif node.name in ("pacs", "ai", "station"):  # the nodes that call others
            assert set(node.calls_from) == subnets | {"127.0.0.1"}, node.name


def test_dimse_health_checks_call_as_an_accepted_peer(services: dict[str, Any]) -> None:
    network, _ = load_network(COMPOSE_CONFIG)
    for name in ("pacs", "worklist", "ai"):
        node = network.node(name)
        test = " ".join(services[name]["healthcheck"]["test"][1:])
        match = re.search(r"echoscu -aet (\S+) -aec (\S+) 127\.0\.0\.1 (\d+)", test)
        assert match, name
        assert match[1] in node.accepts and match[2] == node.ae_title
        assert int(match[3]) == node.port
    assert "/healthz" in services["ai"]["healthcheck"]["test"][1]


def test_secrets_have_no_default(services: dict[str, Any]) -> None:
    text = (REPO / "docker-compose.yml").read_text()
    for secret in SECRETS:
        uses = re.findall(r"\$\{" + secret + r"(.{0,2})", text)
        assert uses, secret
        assert all(use.startswith(":?") for use in uses), secret
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if any(word in key for word in ("SECRET", "TOKEN", "PASSWORD")):
                assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", str(value)), (name, key)


def test_each_database_user_has_its_own_postgres_database(services: dict[str, Any]) -> None:
    init = "\n".join(p.read_text() for p in (REPO / "docker" / "postgres").iterdir())
    for service, database in DATABASES.items():
        url = services[service]["environment"]["DATABASE_URL"]
        assert url.startswith("postgresql+psycopg://fovea:${POSTGRES_PASSWORD:?")
        assert url.endswith(f"@postgres:5432/{database}")
        assert f"CREATE DATABASE {database} " in init
        assert services[service]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "./docker/postgres:/docker-entrypoint-initdb.d:ro" in services["postgres"]["volumes"]


def test_commands_run_the_procfile_modules(services: dict[str, Any]) -> None:
    processes = procfile()
    for service, process in PROCFILE_NAMES.items():
        module = re.search(r"python -m (\S+)", processes[process])
        assert module, process
        assert services[service]["command"][:3] == ["python", "-m", module[1]], service


def test_ai_node_and_workers_share_one_volume(services: dict[str, Any]) -> None:
    assert services["ai"]["volumes"] == services["ai-worker"]["volumes"] == ["ai-data:/data"]
    assert services["ai"]["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert services["ai-worker"]["environment"]["REDIS_URL"] == "redis://redis:6379/0"


def test_tools_profile_runs_the_dcm4che_checks(services: dict[str, Any]) -> None:
    checks = services["checks"]
    assert checks["profiles"] == ["tools"]
    assert "dcm4che/dcm4che-tools" in checks["image"]
    script = (REPO / "scripts" / "compose_checks.sh").read_text()
    for tool in ("storescu", "findscu", "movescu", "getscu", "mppsscu", "-M MWL"):
        assert tool in script, tool


def test_dockerfile_installs_dcmtk_and_copies_the_models() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.11-slim" in dockerfile
    assert re.search(r"apt-get install .*\bdcmtk\b", dockerfile)
    assert "pip install --no-cache-dir '.[ai,postgres]'" in dockerfile
    assert re.search(r"^COPY models ", dockerfile, re.MULTILINE)
    assert re.search(r"^COPY configs ", dockerfile, re.MULTILINE)
