"""The node's storage SCP: where the PACS's C-MOVE sends a study's photographs.

It accepts associations only from the AE titles of the ``ai`` node's
``accepts`` (the PACS), only Ophthalmic Photography storage, in every transfer
syntax the archive keeps, and answers success once an instance is durable in
the :class:`~ai_node.inbox.Inbox`. Handlers are thin, as in the archive:
``handle_<verb>(event, ctx)`` maps the inbox's outcome to a named status.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from io import BytesIO
from typing import Any, cast

from pydicom.dataset import Dataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    OphthalmicPhotography8BitImageStorage,
    OphthalmicPhotography16BitImageStorage,
)
from pynetdicom import AE, evt
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.transport import ThreadedAssociationServer

from imaging_common.dimse import NODELAY_HANDLERS, make_ae
from imaging_common.listener import serve
from imaging_common.encoding import check_complete, part10
from imaging_common.exceptions import DicomInputError
from imaging_common.logs import get_logger
from imaging_common.metrics import DimseMetrics
from imaging_common.settings import Settings
from imaging_common.sop_classes import STORAGE_TRANSFER_SYNTAXES, VERIFICATION
from imaging_common.status import GeneralStatus, StoreStatus

from ai_node.inbox import Inbox, read_header

__all__ = ["PHOTOGRAPH_SOP_CLASSES", "ScpContext", "build_ae", "handle_echo", "handle_store",
           "start_storage_scp"]

log = get_logger(__name__)

#: What the node grades: Ophthalmic Photography 8 and 16 Bit Images (PS3.3 A.39, A.40).
PHOTOGRAPH_SOP_CLASSES: tuple[str, ...] = (
    OphthalmicPhotography8BitImageStorage,
    OphthalmicPhotography16BitImageStorage,
)


@dataclass(frozen=True)
class ScpContext:
    """What the handlers need, built once at start-up."""

    settings: Settings
    inbox: Inbox


def _failure(status: int, comment: str) -> Dataset:
    """A status dataset with an Error Comment (0000,0902), at most 64 characters."""
    result = Dataset()
    result.Status = status
    result.ErrorComment = comment[:64]
    return result


def _peer(event: evt.Event) -> str:
    return str(event.assoc.requestor.ae_title)


def handle_echo(event: evt.Event, ctx: ScpContext) -> int:
    """C-ECHO: the node is alive."""
    return GeneralStatus.SUCCESS


def handle_store(event: evt.Event, ctx: ScpContext) -> int | Dataset:
    """C-STORE: keep the photograph in its study's folder; success once durable."""
    request = cast(C_STORE, event.request)
    transfer_syntax = event.context.transfer_syntax
    sop_instance_uid = str(request.AffectedSOPInstanceUID)
    try:
        encoded = part10(cast(BytesIO, request.DataSet).getvalue(),
                         str(request.AffectedSOPClassUID), sop_instance_uid,
                         transfer_syntax, _peer(event))
        check_complete(encoded, implicit=transfer_syntax == ImplicitVRLittleEndian,
                       deflated=transfer_syntax == DeflatedExplicitVRLittleEndian)
        header = read_header(encoded)
        if str(header.get("SOPInstanceUID", "")) != sop_instance_uid:
            raise DicomInputError("SOPInstanceUID differs from the request's")
        ctx.inbox.put(str(header.get("StudyInstanceUID", "")), sop_instance_uid, encoded)
    except DicomInputError as exc:
        log.warning("store refused", peer=_peer(event), reason=str(exc))
        return _failure(StoreStatus.CANNOT_UNDERSTAND, str(exc))
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        log.error("store failed: disk full", peer=_peer(event))
        return _failure(StoreStatus.OUT_OF_RESOURCES, "the AI node's disk is full")
    log.info("received", peer=_peer(event), sop_instance_uid=sop_instance_uid)
    return StoreStatus.SUCCESS


def build_ae(settings: Settings) -> AE:
    """The node's AE as an SCP: verification and photograph storage, from known peers."""
    ae = make_ae(settings)
    ae.add_supported_context(VERIFICATION)
    for sop_class in PHOTOGRAPH_SOP_CLASSES:
        ae.add_supported_context(sop_class, list(STORAGE_TRANSFER_SYNTAXES))
    ae.require_calling_aet = sorted(settings.node.accepts)
    ae.require_called_aet = True
    return ae


def _log_rejected(event: evt.Event) -> None:
    log.warning("association rejected", peer=str(event.assoc.requestor.ae_title),
                address=event.assoc.requestor.address)


def handler_table(ctx: ScpContext) -> list[tuple[Any, ...]]:
    """Every event the storage SCP answers, and the function that answers it."""
    return [
        *NODELAY_HANDLERS,
        *DimseMetrics.for_settings(ctx.settings).handlers,
        (evt.EVT_REJECTED, _log_rejected),
        (evt.EVT_C_ECHO, handle_echo, [ctx]),
        (evt.EVT_C_STORE, handle_store, [ctx]),
    ]


def start_storage_scp(settings: Settings, inbox: Inbox) -> ThreadedAssociationServer:
    """Start serving in background threads; ``shutdown()`` on the result stops it.

    The returned server's ``server_address`` holds the real port (useful with port 0).
    """
    inbox.clear_incoming()
    ae = build_ae(settings)
    server = serve(ae, settings, handler_table(ScpContext(settings, inbox)))
    log.info("listening", ae_title=settings.ae_title, host=settings.bind_address,
             tls=server.ssl_context is not None,
             port=server.server_address[1], inbox=str(inbox.root))
    return server
