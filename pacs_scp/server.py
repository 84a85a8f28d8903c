"""The archive's application entity: contexts, the handler table, start and stop.

The AE supports every storage SOP class of PS3.4 Annex B, in every transfer
syntax of :func:`~imaging_common.sop_classes.archive_transfer_syntaxes`:
some 170 contexts. PS3.8 9.3.2.2 limits a *proposal* to 128 presentation
contexts (odd IDs 1-255); an acceptor may support any number, and pynetdicom
checks the limit only for requested contexts. Private and unknown storage
classes are accepted when ``[pacs] accept_unknown_storage`` is on
(:mod:`pacs_scp.negotiation`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pynetdicom import AE, evt
from pynetdicom.transport import ThreadedAssociationServer
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from imaging_common.dimse import NODELAY_HANDLERS, make_ae
from imaging_common.listener import serve
from imaging_common.logs import get_logger
from imaging_common.metrics import DimseMetrics
from imaging_common.settings import Settings
from imaging_common.sop_classes import (
    QR_FIND_MODELS,
    QR_GET_MODELS,
    QR_MOVE_MODELS,
    STORAGE_COMMITMENT_PUSH,
    STORAGE_SOP_CLASSES,
    VERIFICATION,
    archive_transfer_syntaxes,
)
from pacs_scp import handlers, negotiation
from pacs_scp.archive import Archive
from pacs_scp.config import ArchiveConfig, load_archive_config
from pacs_scp.handlers import PacsContext
from pacs_scp.models import Base, sqlite_pragmas
from pacs_scp.storage import InstanceStore, reconcile

__all__ = ["build_ae", "build_context", "start_server"]

log = get_logger(__name__)


def build_context(settings: Settings) -> PacsContext:
    """Open the index and the archive folder, creating them if needed."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # A server's connections can drop while idle; a SQLite file's cannot.
    remote = not settings.database_url.startswith("sqlite")
    engine = create_engine(settings.database_url, pool_size=settings.max_associations + 4,
                           max_overflow=8, pool_pre_ping=remote)
    sqlite_pragmas(engine)
    Base.metadata.create_all(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    archive = Archive(Path(settings.data_dir) / "archive", fsync=settings.fsync)
    return PacsContext(settings=settings, sessions=sessions, archive=archive,
                       store=InstanceStore(sessions, archive))


def build_ae(settings: Settings) -> AE:
    """Return the archive's AE with every context it accepts and its peers."""
    ae = make_ae(settings)
    ae.add_supported_context(VERIFICATION)
    for abstract in STORAGE_SOP_CLASSES:
        # scp_role lets a C-GET requester take the SCP role for the C-STORE
        # sub-operations (PS3.7 D.3.3.4); plain C-STORE is unaffected.
        ae.add_supported_context(abstract, archive_transfer_syntaxes(abstract),
                                 scu_role=False, scp_role=True)
    for abstract in (*QR_FIND_MODELS, *QR_MOVE_MODELS, *QR_GET_MODELS):
        ae.add_supported_context(abstract)
    ae.add_supported_context(STORAGE_COMMITMENT_PUSH)
    ae.require_calling_aet = sorted(settings.node.accepts)
    ae.require_called_aet = True
    return ae


def _log_rejected(event: evt.Event) -> None:
    log.warning("association rejected", peer=str(event.assoc.requestor.ae_title),
                address=event.assoc.requestor.address)


def handler_table(ctx: PacsContext, config: ArchiveConfig) -> list[tuple[Any, ...]]:
    """Every event the archive answers, and the function that answers it."""
    unknown_storage = config.accept_unknown_storage
    return [
        *NODELAY_HANDLERS,
        *DimseMetrics.for_settings(ctx.settings).handlers,
        (evt.EVT_REJECTED, _log_rejected),
        *([(evt.EVT_REQUESTED, negotiation.support_unknown_storage),
           (evt.EVT_ACCEPTED, negotiation.register_unknown_storage)] if unknown_storage else []),
        (evt.EVT_ACCEPTED, negotiation.log_refused_contexts, [unknown_storage]),
        (evt.EVT_C_ECHO, handlers.handle_echo, [ctx]),
        (evt.EVT_C_STORE, handlers.handle_store, [ctx]),
        (evt.EVT_C_FIND, handlers.handle_find, [ctx]),
        (evt.EVT_C_MOVE, handlers.handle_move, [ctx]),
        (evt.EVT_C_GET, handlers.handle_get, [ctx]),
        (evt.EVT_N_ACTION, handlers.handle_n_action, [ctx]),
    ]


def start_server(settings: Settings,
                 config: ArchiveConfig | None = None) -> ThreadedAssociationServer:
    """Reconcile the archive, then start serving in background threads.

    ``config`` is the ``[pacs]`` table; ``None`` reads it from the network
    file of ``settings``. The returned server's ``server_address`` holds the
    real port (useful with port 0); ``shutdown()`` stops it.

    Raises:
        ConfigError: the ``[pacs]`` table is malformed.
    """
    if config is None:
        config = load_archive_config(settings.config_path)
    ctx = build_context(settings)
    reconcile(ctx.sessions, ctx.archive)
    ae = build_ae(settings)
    server = serve(ae, settings, handler_table(ctx, config))
    log.info("listening", ae_title=settings.ae_title, host=settings.bind_address,
             tls=server.ssl_context is not None,
             port=server.server_address[1], data_dir=str(settings.data_dir),
             accept_unknown_storage=config.accept_unknown_storage)
    return server
