"""The metrics port setting, the DIMSE-only listener, and a Flask app's /metrics."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest
from flask import Blueprint, Flask
from prometheus_client import CollectorRegistry, Counter

from imaging_common.exceptions import ConfigError
from imaging_common.metrics import add_metrics_option, serve_metrics
from imaging_common.settings import Settings, load_settings, service_argument_parser
from imaging_common.web_metrics import init_metrics
from tests.conftest import free_port
from tests.scrape import parse, scrape, value


def _network(tmp_path: Path, metrics_port: str) -> Path:
    path = tmp_path / "network.toml"
    path.write_text(f"""
[nodes.pacs]
ae_title = "FOVEA_PACS"
port = 11112
{metrics_port}
""")
    return path


def _settings(network: Path, *argv: str, **environ: str) -> Settings:
    parser = add_metrics_option(service_argument_parser("test"))
    return load_settings("pacs", ["--config", str(network), *argv], environ=environ,
                         parser=parser)


def test_metrics_port_comes_from_option_environment_or_network_file(tmp_path: Path) -> None:
    network = _network(tmp_path, "metrics_port = 9555")
    assert _settings(network).node.metrics_port == 9555
    assert _settings(network, FOVEA_METRICS_PORT="9666").node.metrics_port == 9666
    assert _settings(network, "--metrics-port", "9777",
                     FOVEA_METRICS_PORT="9666").node.metrics_port == 9777
    off = _settings(network, "--metrics-port", "0")
    assert off.node.metrics_port == 0 and serve_metrics(off) is None
    assert "metrics_port" not in off.extra
    assert _settings(_network(tmp_path, "")).node.metrics_port is None
    with pytest.raises(ConfigError, match="metrics_port"):
        _settings(_network(tmp_path, "metrics_port = 70000"))


def test_a_dimse_service_serves_its_registry_over_http(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    Counter("fovea_test_things", "Things", registry=registry).inc(3)
    settings = _settings(_network(tmp_path, ""), "--metrics-port", str(free_port()))
    listener = serve_metrics(settings, registry)
    assert listener is not None and listener.port == settings.node.metrics_port
    try:
        samples = scrape(f"http://127.0.0.1:{listener.port}/metrics")
    finally:
        listener.shutdown()
    assert value(samples, "fovea_test_things_total") == 3
    with pytest.raises(urllib.error.URLError):  # closed with the service
        urllib.request.urlopen(f"http://127.0.0.1:{listener.port}/metrics", timeout=2)


def _app() -> Flask:
    app = Flask(__name__)
    items = Blueprint("items", __name__)

    @items.get("/items/<int:item_id>")
    def show(item_id: int) -> str:
        return f"item {item_id}"

    app.register_blueprint(items)
    init_metrics(app)
    return app


def test_flask_apps_count_requests_by_endpoint_not_by_path() -> None:
    first, second = _app(), _app()  # one process, two apps: nothing registered twice
    client = first.test_client()
    assert client.get("/items/4242").status_code == 200
    assert client.get("/items/4343").status_code == 200
    assert client.get("/items/nope").status_code == 404
    assert client.post("/metrics").status_code == 405
    assert client.open("/items/1", method="BREW").status_code == 405

    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    samples = parse(response.text)
    requests = "fovea_http_requests_total"
    assert value(samples, requests, endpoint="items.show", method="GET", status="200") == 2
    assert value(samples, requests, endpoint="unmatched", method="GET", status="404") == 1
    assert value(samples, requests, endpoint="unmatched", method="POST", status="405") == 1
    assert value(samples, requests, endpoint="unmatched", method="other", status="405") == 1
    assert value(samples, "fovea_http_request_duration_seconds_count",
                 endpoint="items.show", method="GET") == 2
    label_values = {v for _, labels in samples for _, v in labels}
    assert not any("4242" in v or "nope" in v for v in label_values)  # paths never labels
    assert any(name == "python_info" for name, _ in samples)  # the process-wide registry

    second_samples = parse(second.test_client().get("/metrics").text)
    assert value(second_samples, requests, endpoint="items.show", method="GET",
                 status="200") == 0
    first_again = parse(client.get("/metrics").text)
    assert value(first_again, requests, endpoint="metrics", method="GET", status="200") == 1
