"""The accepting side of every DIMSE service: its listener and who may call it.

:func:`serve` starts a service's association server: with TLS when its node
speaks it (:mod:`imaging_common.tls`), and with the calling address check of
:func:`check_calling_address` on every association request. The calling AE
title check itself is pynetdicom's (``AE.require_calling_aet``, set by each
service to its node's ``accepts``).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from typing import Any, cast

from pynetdicom import AE, evt
from pynetdicom.transport import ThreadedAssociationServer

from imaging_common.exceptions import failure_kind
from imaging_common.logs import get_logger
from imaging_common.settings import ANY_ADDRESS, Network, Settings
from imaging_common.tls import complete_handshake, server_context

__all__ = ["address_allowed", "calling_ae", "check_calling_address", "listener_handlers",
           "refuse_malformed", "serve"]

log = get_logger(__name__)

#: PS3.8 9.3.4 A-ASSOCIATE-RJ: result "rejected (permanent)", source "DICOM
#: UL service-user", reason "calling-AE-title-not-recognized".
REJECTED_PERMANENT = 0x01
SOURCE_SERVICE_USER = 0x01
CALLING_AE_TITLE_NOT_RECOGNISED = 0x03

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def serve(ae: AE, settings: Settings,
          evt_handlers: Sequence[tuple[Any, ...]]) -> ThreadedAssociationServer:
    """Listen on the node's bind address and port (0: any free port), in threads.

    Args:
        ae: the service's AE, its contexts and ``require_calling_aet`` set.
        settings: the service's settings (its node, the network, TLS).
        evt_handlers: the service's handler table; the listener's own
            handlers (:func:`listener_handlers`) are bound after it.

    The returned server's ``server_address`` holds the real port;
    ``shutdown()`` stops it.
    """
    port = settings.node.port if settings.node.port is not None else 0
    tls = settings.tls if settings.node.tls else None
    server = ae.start_server(
        (settings.bind_address, port), block=False,
        evt_handlers=[*evt_handlers, *listener_handlers(settings)],
        ssl_context=server_context(tls) if tls is not None else None,
    )
    return cast(ThreadedAssociationServer, server)  # block=False returns the server


def listener_handlers(settings: Settings) -> list[tuple[Any, ...]]:
    """The handlers every listener binds: the TLS handshake, the address check."""
    handlers: list[tuple[Any, ...]] = [
        (evt.EVT_REQUESTED, check_calling_address, [settings.network]),
    ]
    if settings.tls is not None and settings.node.tls:
        handlers.insert(0, (evt.EVT_CONN_OPEN, complete_handshake))
    return handlers


def check_calling_address(event: evt.Event, network: Network) -> None:
    """EVT_REQUESTED handler: refuse a known AE title calling from a host not its own.

    When the calling AE title is a node of the network file whose
    ``calls_from`` is not empty, the association must come from one of those
    hosts, addresses or networks; otherwise it is rejected with an
    A-ASSOCIATE-RJ "calling AE title not recognised" (PS3.8 9.3.4), as an
    unknown AE title is. AE titles that are no node, or a node without a
    host, are left to the ``accepts`` check alone.
    """
    assoc = event.assoc
    request = assoc.requestor.primitive
    calling = str(request.calling_ae_title if request is not None else "").strip()
    node = network.find_ae(calling)
    address = assoc.requestor.address
    if node is None or not node.calls_from or address_allowed(address, node.calls_from):
        return
    assoc.requestor.ae_title = calling  # for the EVT_REJECTED handlers' log and metrics
    log.warning("association rejected: calling AE title from another host",
                peer=calling, address=address, expected=list(node.calls_from))
    assoc.acse.send_reject(REJECTED_PERMANENT, SOURCE_SERVICE_USER,
                           CALLING_AE_TITLE_NOT_RECOGNISED)
    evt.trigger(assoc, evt.EVT_REJECTED, {})
    assoc.kill()


def address_allowed(address: str, allowed: Iterable[str]) -> bool:
    """Whether ``address`` (an IP address) is one of ``allowed``.

    Each entry is ``"*"`` (anywhere), an IP address, a network in CIDR
    notation, or a host name, resolved now (so a name with several addresses,
    or whose address changed, is followed). A name that does not resolve
    matches nothing.
    """
    try:
        peer = _plain(ipaddress.ip_address(address.split("%", 1)[0]))
    except ValueError:
        return False
    return any(entry == ANY_ADDRESS or _matches(peer, entry) for entry in allowed)


def _matches(peer: _Address, entry: str) -> bool:
    try:
        return peer == _plain(ipaddress.ip_address(entry.split("%", 1)[0]))
    except ValueError:
        pass
    try:
        network = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return peer in _resolve(entry)
    return peer.version == network.version and peer in network


def _resolve(host: str) -> set[_Address]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:  # socket.gaierror included
        log.warning("host of a calling node does not resolve", host=host, reason=str(exc))
        return set()
    return {_plain(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])) for info in infos}


def _plain(address: _Address) -> _Address:
    """An IPv4-mapped IPv6 address (``::ffff:10.0.0.1``) as the IPv4 address it maps."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def calling_ae(event: evt.Event) -> str:
    """The AE title of the peer that asked (for log lines)."""
    return str(event.assoc.requestor.ae_title)


def refuse_malformed(service_log: Any, verb: str, event: evt.Event, sop_class_uid: object,
                     exc: Exception) -> str:
    """Log a malformed dataset that a handler refuses (the kind of failure, never a
    value) on ``service_log``; return the Error Comment that goes with the refusal."""
    service_log.warning(f"{verb} refused: malformed dataset", peer=calling_ae(event),
                        sop_class_uid=str(sop_class_uid), failure=failure_kind(exc))
    return f"malformed dataset ({type(exc).__name__})"
