"""The production web server: Cheroot over HTTP and HTTPS, the [https] table, plain HTTP
refused in production, forwarded headers believed from a trusted proxy only."""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, request, session

from imaging_common.exceptions import ConfigError
from imaging_common.settings import load_settings
from imaging_common.web.serving import WebServer, WebServing, check_production_serving
from tests.certificates import Pki


def _app() -> Flask:
    app = Flask("probe")
    app.config["SECRET_KEY"] = "probe-secret-" + "p" * 32

    @app.get("/")
    def index() -> str:
        session["seen"] = True
        return f"{request.scheme} {request.remote_addr} {request.host}"

    return app


@pytest.fixture
def serve() -> Iterator[list[WebServer]]:
    servers: list[WebServer] = []
    yield servers
    for server in servers:
        server.stop()


def _get(port: int, context: ssl.SSLContext | None = None,
         headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    connection = (http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
                  if context else http.client.HTTPConnection("127.0.0.1", port, timeout=10))
    connection.request("GET", "/", headers=headers or {})
    return connection.getresponse()


def test_plain_http(serve: list[WebServer]) -> None:
    server = WebServer(_app(), "127.0.0.1", 0, WebServing()).start()
    serve.append(server)
    answer = _get(server.port)
    assert answer.status == 200 and answer.read().decode().startswith("http 127.0.0.1")
    assert "Secure" not in answer.getheader("Set-Cookie", "")


def test_https_with_the_sites_certificate(serve: list[WebServer], pki: Pki) -> None:
    serving = WebServing(https=True, certificate=pki.fovea.certificate,
                         private_key=pki.fovea.private_key)
    server = WebServer(_app(), "127.0.0.1", 0, serving).start()
    serve.append(server)
    trusting = ssl.create_default_context(cafile=str(pki.ca))
    answer = _get(server.port, trusting)
    assert answer.status == 200 and answer.read().decode().startswith("https ")
    assert "Secure" in answer.getheader("Set-Cookie", "")
    with pytest.raises(ssl.SSLError):  # a certificate from a CA the caller does not trust
        _get(server.port, ssl.create_default_context())


def test_forwarded_headers_count_from_a_trusted_proxy_only(serve: list[WebServer]) -> None:
    forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https",
                 "X-Forwarded-Host": "fovea.example"}
    trusted = WebServer(_app(), "127.0.0.1", 0,
                        WebServing(trusted_proxies=("127.0.0.1",))).start()
    untrusted = WebServer(_app(), "127.0.0.1", 0,
                          WebServing(trusted_proxies=("192.0.2.1",))).start()
    serve.extend([trusted, untrusted])
    answer = _get(trusted.port, headers=forwarded)
    assert answer.read().decode() == "https 203.0.113.9 fovea.example"
    assert "Secure" in answer.getheader("Set-Cookie", "")
    assert _get(untrusted.port, headers=forwarded).read().decode().startswith(
        "http 127.0.0.1 127.0.0.1:")


def test_production_refuses_plain_http() -> None:
    with pytest.raises(ConfigError, match="not served over plain HTTP"):
        check_production_serving(WebServing(), "the EMR")
    check_production_serving(WebServing(trusted_proxies=("10.0.0.5",)), "the EMR")
    check_production_serving(WebServing(https=True, certificate=Path("c"),
                                        private_key=Path("k")), "the EMR")


def test_the_https_table_and_its_variables(tmp_path: Path) -> None:
    network = tmp_path / "network.toml"
    network.write_text('[nodes.emr]\nhost = "127.0.0.1"\nhttp_port = 5000\n\n'
                       '[https]\nenabled = true\ncertificate = "tls/site.crt"\n'
                       'private_key = "tls/site.key"\ntrusted_proxies = ["10.0.0.5"]\n')
    web = load_settings("emr", ["--config", str(network)], environ={}).web
    assert web == WebServing(True, tmp_path / "tls/site.crt", tmp_path / "tls/site.key",
                             ("10.0.0.5",), 16)
    web = load_settings("emr", ["--config", str(network)], environ={
        "FOVEA_HTTPS": "0", "FOVEA_TRUSTED_PROXIES": "10.0.0.6, 10.0.0.7",
        "FOVEA_HTTP_THREADS": "4"}).web
    assert (web.https, web.trusted_proxies, web.threads) == (False, ("10.0.0.6", "10.0.0.7"), 4)
    network.write_text('[nodes.emr]\nhost = "127.0.0.1"\n\n[https]\nenabled = true\n')
    with pytest.raises(ConfigError, match="certificate or private_key"):
        load_settings("emr", ["--config", str(network)], environ={})
    network.write_text('[nodes.emr]\nhost = "127.0.0.1"\n\n[https]\nport = 1\n')
    with pytest.raises(ConfigError, match="unknown keys"):
        load_settings("emr", ["--config", str(network)], environ={})
