"""docker-compose.yml agrees with the network file (Docker does not run here)."""

from __future__ import annotations

from pathlib import Path

import yaml

from imaging_common.settings import load_settings

REPO = Path(__file__).resolve().parent.parent


def test_compose_publishes_the_pacs_port_of_the_network_file() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    settings = load_settings("pacs", [], environ={})
    pacs = compose["services"]["pacs"]
    assert f"{settings.node.port}:{settings.node.port}" in pacs["ports"]
    assert pacs["command"] == ["python", "-m", "pacs_scp"]
    assert settings.ae_title in pacs["healthcheck"]["test"]
    assert pacs["environment"]["DATABASE_URL"].startswith("postgresql://")
    assert {"postgres", "redis", "pacs"} <= set(compose["services"])
    for name, service in compose["services"].items():
        assert "healthcheck" in service, name
