"""Prometheus metrics of DIMSE traffic, and the listener of a DIMSE-only service.

:class:`DimseMetrics` feeds the metrics below from pynetdicom's notification
events, bound beside a server's handler table (:attr:`DimseMetrics.handlers`);
the DIMSE handlers themselves know nothing of it:

- EVT_ESTABLISHED, EVT_RELEASED, EVT_ABORTED and EVT_REJECTED count
  associations by service and peer AE title (:data:`ASSOCIATIONS`) and keep
  the number open (:data:`ASSOCIATIONS_OPEN`);
- EVT_DIMSE_RECV and EVT_DIMSE_SENT pair each request with its final response,
  which names it in Message ID Being Responded To (PS3.7 9.3 and 10.3), to
  count operations (:data:`OPERATIONS`) by command, SOP class, Query/Retrieve
  Level and status category (PS3.7 C), and time them
  (:data:`OPERATION_SECONDS`). Pending responses (C-FIND matches, C-MOVE and
  C-GET progress) are not counted.

The role says which side of an operation the service was on: ``performer``
when it received the request (a C-STORE into the archive), ``invoker`` when it
sent it (the C-STORE sub-operations of a C-GET, a storage commitment's
N-EVENT-REPORT).

No label carries patient data: service names, AE titles of the network file
(any other is ``unknown``), DIMSE command names, SOP class keywords (a UID
pydicom does not know is ``other``), levels and status categories. The
metrics live in prometheus_client's process-wide registry, so that several
servers in one process (tests, the AI node's page) share them; the ``service``
label tells them apart.

A DIMSE-only service serves them with :func:`serve_metrics` on the port of
its node's ``metrics_port`` (``--metrics-port``, ``FOVEA_METRICS_PORT``;
0 or none: not served), with prometheus_client's own HTTP server.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from io import BytesIO
from typing import Any
from weakref import WeakKeyDictionary, WeakSet
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import start_http_server
from pydicom.uid import UID
from pynetdicom import Association, evt
from pynetdicom.dsutils import decode
from pynetdicom.status import code_to_category

from imaging_common.levels import Level
from imaging_common.logs import get_logger
from imaging_common.settings import Settings

__all__ = [
    "ASSOCIATIONS",
    "ASSOCIATIONS_OPEN",
    "DimseMetrics",
    "MetricsListener",
    "OPERATIONS",
    "OPERATION_SECONDS",
    "add_metrics_option",
    "serve_metrics",
]

log = get_logger(__name__)

PREFIX = "fovea_dimse"
#: The peer label of an AE title the network file does not name.
UNKNOWN_PEER = "unknown"
#: The label of a SOP class or level outside the known ones.
OTHER = "other"
#: The service received the request (it performed the operation) or sent it.
PERFORMER, INVOKER = "performer", "invoker"
#: Commands whose Identifier carries a Query/Retrieve Level (PS3.4 C.4).
QUERY_RETRIEVE_COMMANDS = frozenset({"C-FIND", "C-MOVE", "C-GET"})
#: The level labels: Query/Retrieve Level (0008,0052) values.
LEVELS = frozenset(level.value for level in Level)

#: Associations by what became of them: established, released, aborted, rejected.
ASSOCIATIONS = Counter(
    f"{PREFIX}_associations_total",
    "DIMSE associations by event (established, released, aborted, rejected) and peer AE title",
    ["service", "peer_ae", "event"])
#: Associations established and not yet released or aborted.
ASSOCIATIONS_OPEN = Gauge(
    f"{PREFIX}_associations_open", "DIMSE associations open now", ["service"])
#: Operations that got their final response.
OPERATIONS = Counter(
    f"{PREFIX}_operations_total",
    "DIMSE operations completed, by role, command, SOP class, Query/Retrieve Level "
    "and status category (success, warning, failure, cancel)",
    ["service", "role", "command", "sop_class", "level", "status"])
#: Seconds from a request to its final response.
OPERATION_SECONDS = Histogram(
    f"{PREFIX}_operation_duration_seconds",
    "Seconds from a DIMSE request to its final response",
    ["service", "role", "command", "level"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))


@dataclass(frozen=True)
class _Request:
    """A request waiting for its final response."""

    command: str
    sop_class: str
    level: str
    started: float


def _sop_class(command_set: Any) -> str:
    uid = command_set.get("AffectedSOPClassUID") or command_set.get("RequestedSOPClassUID")
    if not uid:
        return ""
    return UID(str(uid)).keyword or OTHER


def _level(assoc: Association, message: Any) -> str:
    """The request Identifier's Query/Retrieve Level; ``""`` when it has none (MWL)."""
    data = message.data_set
    if not isinstance(data, BytesIO) or not data.getvalue():
        return ""
    context = next((cx for cx in assoc.accepted_contexts
                    if cx.context_id == message.context_id), None)
    if context is None:
        return OTHER
    syntax = UID(context.transfer_syntax[0])
    try:
        identifier = decode(data, syntax.is_implicit_VR, syntax.is_little_endian,
                            syntax.is_deflated)
        value = str(identifier.get("QueryRetrieveLevel", "") or "").strip().upper()
    except Exception:  # a malformed identifier: the handler refuses it, not us
        return OTHER
    if not value:
        return ""
    return value if value in LEVELS else OTHER


class DimseMetrics:
    """Feeds the DIMSE metrics of one service from pynetdicom's notification events.

    Args:
        service: the node's name in the network file (``pacs``, ``worklist``...).
        peers: the AE titles that may appear as a peer label; any other is
            ``unknown``, so that a caller cannot grow the label set at will.
    """

    def __init__(self, service: str, peers: Iterable[str] = ()) -> None:
        self.service = service
        self.peers = frozenset(peers)
        self._lock = threading.Lock()
        self._open: WeakSet[Association] = WeakSet()
        self._waiting: WeakKeyDictionary[Association, dict[tuple[str, int], _Request]] = (
            WeakKeyDictionary())

    @classmethod
    def for_settings(cls, settings: Settings) -> DimseMetrics:
        """The metrics of the node ``settings`` runs as: its peers are every AE
        title of the network file and the ones it accepts or moves to."""
        node = settings.node
        titles = {n.ae_title for n in settings.network.nodes if n.ae_title}
        return cls(node.name, titles | node.accepts | set(node.move_destinations))

    @property
    def handlers(self) -> list[tuple[evt.NotificationEvent, Callable[[evt.Event], None]]]:
        """The notification handlers to bind on a server or an association."""
        return [
            (evt.EVT_ESTABLISHED, self._established),
            (evt.EVT_RELEASED, self._released),
            (evt.EVT_ABORTED, self._aborted),
            (evt.EVT_REJECTED, self._rejected),
            (evt.EVT_DIMSE_RECV, self._received),
            (evt.EVT_DIMSE_SENT, self._sent),
        ]

    def _peer(self, assoc: Association) -> str:
        peer = assoc.requestor if assoc.is_acceptor else assoc.acceptor
        title = str(peer.ae_title or "").strip()
        return title if title in self.peers else UNKNOWN_PEER

    def _count(self, event: evt.Event, name: str) -> None:
        ASSOCIATIONS.labels(service=self.service, peer_ae=self._peer(event.assoc),
                            event=name).inc()

    def _established(self, event: evt.Event) -> None:
        self._count(event, "established")
        with self._lock:
            self._open.add(event.assoc)
        ASSOCIATIONS_OPEN.labels(service=self.service).inc()

    def _released(self, event: evt.Event) -> None:
        self._ended(event, "released")

    def _aborted(self, event: evt.Event) -> None:
        self._ended(event, "aborted")

    def _ended(self, event: evt.Event, name: str) -> None:
        self._count(event, name)
        with self._lock:
            was_open = event.assoc in self._open
            self._open.discard(event.assoc)
            self._waiting.pop(event.assoc, None)
        if was_open:  # an abort during negotiation never opened one
            ASSOCIATIONS_OPEN.labels(service=self.service).dec()

    def _rejected(self, event: evt.Event) -> None:
        self._count(event, "rejected")

    def _received(self, event: evt.Event) -> None:
        self._message(event.assoc, event.message, received=True)

    def _sent(self, event: evt.Event) -> None:
        self._message(event.assoc, event.message, received=False)

    def _message(self, assoc: Association, message: Any, received: bool) -> None:
        """Remember a request; on its final response, count and time the operation."""
        name, _, kind = type(message).__name__.rpartition("_")  # e.g. C_FIND_RQ
        command = name.replace("_", "-")
        command_set = message.command_set
        if kind == "RQ":
            message_id = command_set.get("MessageID")
            if message_id is None:  # C-CANCEL-RQ: no operation of its own
                return
            level = _level(assoc, message) if command in QUERY_RETRIEVE_COMMANDS else ""
            request = _Request(command, _sop_class(command_set), level, time.perf_counter())
            with self._lock:
                waiting = self._waiting.setdefault(assoc, {})
                waiting[(PERFORMER if received else INVOKER, int(message_id))] = request
        elif kind == "RSP":
            status = command_set.get("Status")
            responded_to = command_set.get("MessageIDBeingRespondedTo")
            if status is None or responded_to is None:
                return
            category = code_to_category(int(status)).lower()
            if category == "pending":
                return
            role = INVOKER if received else PERFORMER
            with self._lock:
                found = self._waiting.get(assoc, {}).pop((role, int(responded_to)), None)
            if found is not None:
                self._observe(role, found, category)

    def _observe(self, role: str, request: _Request, category: str) -> None:
        OPERATIONS.labels(service=self.service, role=role, command=request.command,
                          sop_class=request.sop_class, level=request.level,
                          status=category).inc()
        OPERATION_SECONDS.labels(service=self.service, role=role, command=request.command,
                                 level=request.level).observe(
            time.perf_counter() - request.started)


def add_metrics_option(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``--metrics-port`` to a service's parser; :func:`~imaging_common.settings.
    load_settings` puts its value in ``settings.node.metrics_port``."""
    parser.add_argument("--metrics-port", type=int,
                        help="serve Prometheus metrics on this HTTP port, at /metrics "
                             "(FOVEA_METRICS_PORT; 0: not served)")
    return parser


@dataclass
class MetricsListener:
    """prometheus_client's HTTP server, serving ``/metrics`` in a daemon thread."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.server.server_address[1])

    def shutdown(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve_metrics(settings: Settings,
                  registry: CollectorRegistry = REGISTRY) -> MetricsListener | None:
    """Serve ``registry`` on the node's metrics port, on its bind address.

    Returns ``None`` when the node has no metrics port (or 0).

    Raises:
        OSError: the port is taken or cannot be bound.
    """
    port = settings.node.metrics_port
    if not port:
        return None
    server, thread = start_http_server(port, addr=settings.bind_address, registry=registry)
    listener = MetricsListener(server, thread)
    log.info("metrics served", host=settings.bind_address, port=listener.port)
    return listener
