"""Serving a web app in production: Cheroot, HTTPS, and a proxy that may be trusted.

Every Fovea web app (the EMR, the station, the AI node's page) is served by
Cheroot, CherryPy's multi-threaded WSGI server, in its own process, under
``make run`` as in compose; never by Werkzeug's development server. One
process with threads suits the apps: the station's outbox sender and the AI
node's storage SCP run beside the pages in the same process.

HTTPS is an option, set in the network file the way DICOM TLS is::

    [https]
    enabled = true                    # FOVEA_HTTPS
    certificate = "tls/fovea.crt"     # FOVEA_HTTPS_CERTIFICATE: PEM, with its chain
    private_key = "tls/fovea.key"     # FOVEA_HTTPS_PRIVATE_KEY: PEM, unencrypted
    trusted_proxies = ["10.0.0.5"]    # FOVEA_TRUSTED_PROXIES: proxies that end HTTPS
    threads = 16                      # FOVEA_HTTP_THREADS

In production an app refuses to start over plain HTTP unless a trusted proxy
terminates HTTPS in front of it; its ``X-Forwarded-For``/``-Proto``/``-Host``
headers are believed from those addresses only. Cookies are sent with
``Secure`` whenever the app is served over HTTPS.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from imaging_common.exceptions import ConfigError

__all__ = ["WebServing", "WebServer", "check_production_serving", "make_server", "serve"]

#: Forwarded headers a trusted proxy may set; from anyone else they are dropped.
FORWARDED = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST",
             "HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_PREFIX")
#: PS3.15 B.9 asks DICOM links for TLS 1.2 or later; the pages ask the same.
MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2


@dataclass(frozen=True)
class WebServing:
    """How an app's pages are served (the ``[https]`` table).

    Attributes:
        https: serve HTTPS with ``certificate`` and ``private_key``.
        certificate: PEM file with the certificate and its chain.
        private_key: PEM file with its private key, unencrypted.
        trusted_proxies: addresses of proxies in front that end HTTPS.
        threads: request threads.
    """

    https: bool = False
    certificate: Path | None = None
    private_key: Path | None = None
    trusted_proxies: tuple[str, ...] = field(default=())
    threads: int = 16

    def __post_init__(self) -> None:
        if self.https and (self.certificate is None or self.private_key is None):
            raise ConfigError("HTTPS is enabled but [https] certificate or private_key "
                              "is not set (FOVEA_HTTPS_CERTIFICATE, FOVEA_HTTPS_PRIVATE_KEY)")
        if self.threads < 1:
            raise ConfigError(f"[https] threads {self.threads} is not a positive number")

    @property
    def scheme(self) -> str:
        return "https" if self.https else "http"

    @property
    def secure(self) -> bool:
        """Whether browsers reach the app over HTTPS (here, or at a trusted proxy)."""
        return self.https or bool(self.trusted_proxies)


def check_production_serving(serving: WebServing, what: str) -> None:
    """Refuse plain HTTP in production, unless a trusted proxy ends HTTPS in front.

    Raises:
        ConfigError: neither HTTPS nor a trusted proxy.
    """
    if not serving.secure:
        raise ConfigError(f"{what} is not served over plain HTTP in production: enable "
                          "[https] (FOVEA_HTTPS) or name the proxy that ends HTTPS in front "
                          "of it (FOVEA_TRUSTED_PROXIES)")


class _TrustedForwarding:
    """Keep the ``X-Forwarded-*`` headers of trusted proxies only, then apply them."""

    def __init__(self, app: Callable[..., Any], proxies: Iterable[str]) -> None:
        self.proxies = frozenset(proxies)
        self.fixed = ProxyFix(app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1)
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("REMOTE_ADDR") in self.proxies:
            return self.fixed(environ, start_response)
        for name in FORWARDED:
            environ.pop(name, None)
        return self.app(environ, start_response)


class WebServer:
    """A Cheroot server for one app: :meth:`start` in a thread, or :meth:`serve` here."""

    def __init__(self, app: Flask, host: str, port: int, serving: WebServing) -> None:
        from cheroot import wsgi  # the web processes only

        if serving.secure:
            app.config.update(SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True)
        application: Callable[..., Any] = app
        if serving.trusted_proxies:
            application = _TrustedForwarding(app, serving.trusted_proxies)
        self.server = wsgi.Server((host, port), application, numthreads=serving.threads,
                                  server_name=f"fovea-{app.name.split('.')[0]}")
        if serving.https:
            self.server.ssl_adapter = _ssl_adapter(serving)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port listened on (the one chosen when 0 was asked for)."""
        return int(self.server.bind_addr[1])

    def start(self) -> WebServer:
        """Listen now and serve in a thread."""
        self.server.prepare()
        self._thread = threading.Thread(target=self.server.serve, name="web", daemon=True)
        self._thread.start()
        return self

    def serve(self) -> None:
        """Listen and serve in this thread until :meth:`stop` (or KeyboardInterrupt)."""
        self.server.safe_start()

    def stop(self) -> None:
        self.server.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)


def _ssl_adapter(serving: WebServing) -> Any:
    from cheroot.ssl.builtin import BuiltinSSLAdapter

    assert serving.certificate is not None and serving.private_key is not None
    for what, path in (("certificate", serving.certificate),
                       ("private key", serving.private_key)):
        if not path.is_file():
            raise ConfigError(f"HTTPS {what} {path} does not exist")
    try:
        adapter = BuiltinSSLAdapter(str(serving.certificate), str(serving.private_key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"HTTPS certificate or key unusable: {exc}") from None
    adapter.context.minimum_version = MINIMUM_VERSION
    return adapter


def make_server(app: Flask, host: str, port: int, serving: WebServing) -> WebServer:
    """A production server for ``app`` (not yet listening)."""
    return WebServer(app, host, port, serving)


def serve(app: Flask, host: str, port: int, serving: WebServing) -> None:
    """Serve ``app`` in this thread until interrupted or terminated."""
    server = make_server(app, host, port, serving)
    try:
        server.serve()
    finally:
        server.stop()
