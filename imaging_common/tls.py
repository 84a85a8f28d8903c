"""DICOM TLS on the DIMSE links: the ``[tls]`` table and the SSL contexts.

PS3.15 B.9 (BCP 195 TLS Secure Transport Connection Profile): TLS 1.2 or
later, each side identified by an X.509 certificate. A node marked
``tls = true`` in the network file listens with TLS, and an SCU uses TLS
toward it, but only while the ``[tls]`` table is enabled; when it is not
(the default), every link is plain TCP and no file below is read::

    [tls]
    enabled = true                    # FOVEA_TLS
    certificate = "tls/fovea.crt"     # PEM, this service's certificate (chain)
    private_key = "tls/fovea.key"     # PEM, unencrypted
    ca_certificates = "tls/ca.crt"    # PEM, the CAs that sign the peers' certificates
    verify_clients = true             # mutual authentication: callers show a certificate
    check_hostname = true             # a listener's certificate names the host dialled

Each other key has its ``FOVEA_TLS_<KEY>`` variable (``FOVEA_TLS_CERTIFICATE``, ...),
and ``FOVEA_TLS_NODES`` (node names) replaces the nodes' ``tls`` flags.
:func:`imaging_common.settings.load_settings` reads the table; a DIMSE
service whose TLS files are missing, unreadable or unusable stops at start-up
with a :class:`~imaging_common.exceptions.ConfigError`.

Paths in the file are taken from the network file's folder, paths in the
environment from the working directory. The same certificate serves a
service as a listener and as a caller, so it should carry both the
serverAuth and the clientAuth extended key usages (or neither).

pynetdicom wraps an accepted connection with the listener's context in the
thread that accepts every connection; with the handshake done there, one
client that connects and says nothing would stop the whole listener. The
listener's context therefore defers the handshake, and
:func:`complete_handshake` does it in the connection's own thread, bounded
by the ACSE timeout.
"""

from __future__ import annotations

import os
import socket
import ssl
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pynetdicom import evt

from imaging_common.exceptions import ConfigError
from imaging_common.logs import get_logger

__all__ = [
    "TlsSettings",
    "client_context",
    "complete_handshake",
    "server_context",
]

log = get_logger(__name__)

#: PS3.15 B.9: BCP 195 asks for TLS 1.2 or later.
MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2


@dataclass(frozen=True)
class TlsSettings:
    """The TLS identity and trust of one service process.

    Attributes:
        certificate: PEM file with this service's certificate (and its chain),
            shown as a listener and as a caller.
        private_key: PEM file with the certificate's private key, unencrypted.
        ca_certificates: PEM file with the CA certificates that sign the peers'.
        verify_clients: a listener asks callers for a certificate signed by
            one of those CAs and refuses the connection without one.
        check_hostname: a caller checks that the listener's certificate names
            the host it dialled (the node's ``host``).
    """

    certificate: Path
    private_key: Path
    ca_certificates: Path
    verify_clients: bool = True
    check_hostname: bool = True

    def check(self) -> None:
        """Load the files now, so that a bad one stops the service at start-up.

        Raises:
            ConfigError: a file is missing, unreadable, or not what it should be.
        """
        client_context(self)
        server_context(self)


class _ListenerContext(ssl.SSLContext):
    """A server context whose sockets shake hands on first use, not when wrapped."""

    def wrap_socket(
        self,
        sock: socket.socket,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLSocket:
        return super().wrap_socket(
            sock, server_side=server_side, do_handshake_on_connect=False,
            suppress_ragged_eofs=suppress_ragged_eofs, server_hostname=server_hostname,
            session=session)


@lru_cache(maxsize=8)
def client_context(tls: TlsSettings) -> ssl.SSLContext:
    """The context an SCU wraps its connection with (built once per settings).

    Raises:
        ConfigError: a file is missing, unreadable, or not what it should be.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = tls.check_hostname
    context.verify_mode = ssl.CERT_REQUIRED
    _load(context, tls)
    return context


@lru_cache(maxsize=8)
def server_context(tls: TlsSettings) -> ssl.SSLContext:
    """The context a TLS listener wraps accepted connections with (built once).

    Raises:
        ConfigError: a file is missing, unreadable, or not what it should be.
    """
    context = _ListenerContext(ssl.PROTOCOL_TLS_SERVER)
    context.verify_mode = ssl.CERT_REQUIRED if tls.verify_clients else ssl.CERT_NONE
    _load(context, tls)
    return context


def _load(context: ssl.SSLContext, tls: TlsSettings) -> None:
    context.minimum_version = MINIMUM_VERSION
    for what, path in (("certificate", tls.certificate), ("private key", tls.private_key),
                       ("CA certificates", tls.ca_certificates)):
        _readable(what, path)

    def no_passphrase() -> bytes:  # rather than OpenSSL's prompt on the terminal
        raise ConfigError(f"TLS private key {tls.private_key} is encrypted: "
                          "give an unencrypted key, readable by this service only")

    try:
        context.load_cert_chain(tls.certificate, tls.private_key, password=no_passphrase)
    except ssl.SSLError as exc:
        raise ConfigError(f"TLS certificate {tls.certificate} with private key "
                          f"{tls.private_key} cannot be used: {exc.reason or exc}") from None
    try:
        context.load_verify_locations(cafile=tls.ca_certificates)
    except ssl.SSLError as exc:
        raise ConfigError(f"TLS CA certificates {tls.ca_certificates} cannot be used: "
                          f"{exc.reason or exc}") from None


def _readable(what: str, path: Path) -> None:
    if not path.exists():
        raise ConfigError(f"TLS {what} file {path} does not exist")
    if not path.is_file() or not os.access(path, os.R_OK):
        raise ConfigError(f"TLS {what} file {path} is not a readable file")


def complete_handshake(event: evt.Event) -> None:
    """EVT_CONN_OPEN handler of a TLS listener: the handshake, in the connection's thread.

    A caller that does not complete it within the ACSE timeout (a plain TCP
    client, a certificate the CA did not sign, no certificate when one is
    required) is logged and disconnected before any DICOM is read.
    """
    assoc = event.assoc
    sock = getattr(assoc.dul.socket, "socket", None)
    if not assoc.is_acceptor or not isinstance(sock, ssl.SSLSocket):
        return
    previous = sock.gettimeout()
    sock.settimeout(assoc.acse_timeout)
    try:
        sock.do_handshake()
    except OSError as exc:  # ssl.SSLError, a timeout, a reset
        log.warning("TLS handshake failed", address=assoc.requestor.address,
                    reason=str(getattr(exc, "reason", None) or exc))
        # Nothing was read: end the association without waiting for a request.
        assoc.acse_timeout = 0
        sock.close()
        return
    sock.settimeout(previous)
