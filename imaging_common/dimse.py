"""Helpers for DIMSE applications: AE set-up, TCP_NODELAY, SCU associations.

An AE made by :func:`make_ae` knows its process's TLS settings, and
:func:`associate` uses TLS toward a node marked ``tls = true`` when they are
enabled (:mod:`imaging_common.tls`); the accepting side is
:mod:`imaging_common.listener`.

Nagle's algorithm holds back the small PDUs of a DIMSE exchange (a C-STORE-RSP,
the last fragment of a command) until the peer's delayed ACK arrives, which
slows small messages by 5-50x. Neither pynetdicom nor DCMTK turn it off, so
every socket Fovea opens or accepts gets TCP_NODELAY through the connection
event handler below.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pynetdicom import AE, Association, evt
from pynetdicom.presentation import PresentationContext

from imaging_common.exceptions import AssociationFailed, PeerError
from imaging_common.metrics import DimseMetrics
from imaging_common.reactor import make_prompt
from imaging_common.settings import Node, Settings
from imaging_common.tls import TlsSettings, client_context
from imaging_common.uids import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME

__all__ = ["NODELAY_HANDLERS", "FoveaAE", "associate", "make_ae", "set_tcp_nodelay"]


def set_tcp_nodelay(event: evt.Event) -> None:
    """EVT_CONN_OPEN handler: no Nagle's algorithm, and the prompt transport
    and acceptor loop of :mod:`imaging_common.reactor`."""
    sock = event.assoc.dul.socket
    raw = getattr(sock, "socket", None)
    if raw is not None:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    make_prompt(event.assoc)


#: Handlers to bind on every association, requested or accepted.
NODELAY_HANDLERS: list[tuple[Any, Any]] = [(evt.EVT_CONN_OPEN, set_tcp_nodelay)]


class FoveaAE(AE):
    """A pynetdicom AE that carries its process's TLS settings (``None``: no TLS)
    and the DIMSE metrics its requested associations feed (``None``: none)."""

    def __init__(self, ae_title: str, tls: TlsSettings | None = None,
                 metrics: DimseMetrics | None = None) -> None:
        super().__init__(ae_title=ae_title)
        self.tls = tls
        self.metrics = metrics


def make_ae(settings: Settings, ae_title: str | None = None) -> FoveaAE:
    """Return an AE with Fovea's identity, the timeouts and TLS of ``settings``."""
    ae = FoveaAE(ae_title=ae_title or settings.ae_title, tls=settings.tls,
                 metrics=DimseMetrics.for_settings(settings))
    ae.implementation_class_uid = IMPLEMENTATION_CLASS_UID
    ae.implementation_version_name = IMPLEMENTATION_VERSION_NAME
    ae.acse_timeout = settings.acse_timeout
    ae.dimse_timeout = settings.dimse_timeout
    ae.network_timeout = settings.network_timeout
    ae.connection_timeout = settings.acse_timeout
    ae.maximum_associations = settings.max_associations
    ae.maximum_pdu_size = 0  # no limit on what we receive
    return ae


@contextmanager
def associate(
    ae: AE,
    peer: Node,
    contexts: Sequence[PresentationContext],
    ext_neg: Sequence[Any] | None = None,
    evt_handlers: Sequence[tuple[Any, Any]] = (),
) -> Iterator[Association]:
    """Open an association with ``peer``, yield it, and release it after.

    The connection uses TLS when ``peer`` speaks it and ``ae`` is a
    :class:`FoveaAE` with TLS settings.

    Raises:
        PeerError: the peer has no DIMSE port.
        AssociationFailed: the peer refused, or could not be reached (a failed
            TLS handshake included).
    """
    if peer.port is None or peer.ae_title is None:
        raise PeerError(f"node {peer.name!r} has no DIMSE port or AE title")
    tls = ae.tls if isinstance(ae, FoveaAE) and peer.tls else None
    counted = ae.metrics.handlers if isinstance(ae, FoveaAE) and ae.metrics else []
    assoc = ae.associate(
        peer.host,
        peer.port,
        contexts=list(contexts),
        ae_title=peer.ae_title,
        ext_neg=list(ext_neg) if ext_neg else None,
        evt_handlers=[*NODELAY_HANDLERS, *counted, *evt_handlers],
        tls_args=(client_context(tls), peer.host) if tls is not None else None,
    )
    if not assoc.is_established:
        raise AssociationFailed(
            f"association with {peer.ae_title} at {peer.host}:{peer.port}"
            f"{' (TLS)' if tls is not None else ''} failed"
        )
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()
