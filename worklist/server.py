"""The worklist's application entity: contexts, the handler table, start and stop."""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.transport import ThreadedAssociationServer

from imaging_common.dimse import NODELAY_HANDLERS, make_ae
from imaging_common.listener import serve
from imaging_common.logs import get_logger
from imaging_common.metrics import DimseMetrics
from imaging_common.settings import Settings
from imaging_common.sop_classes import (
    MODALITY_PERFORMED_PROCEDURE_STEP,
    MODALITY_WORKLIST_FIND,
    VERIFICATION,
)
from worklist import handlers
from worklist.cache import TimedCache
from worklist.config import WorklistConfig
from worklist.emr_client import EmrClient
from worklist.handlers import WorklistContext
from worklist.items import worklist_items
from worklist.procedure_steps import ProcedureSteps
from worklist.step_store import StepStore

__all__ = ["build_ae", "build_context", "handler_table", "start_server"]

log = get_logger(__name__)


def build_context(config: WorklistConfig) -> WorklistContext:
    """Connect the EMR client, the worklist cache and the step store (created if needed)."""
    emr = EmrClient(config.emr_url, config.emr_token, config.emr_timeout)

    def load() -> list[Dataset]:
        return worklist_items(emr.scheduled_orders())

    worklist = TimedCache(load, config.cache_seconds)
    store = StepStore(config.steps_dir, fsync=config.settings.fsync)
    return WorklistContext(config=config, worklist=worklist,
                           steps=ProcedureSteps(store, emr, worklist.invalidate))


def build_ae(settings: Settings) -> AE:
    """Return the worklist's AE: Verification, MWL C-FIND and MPPS, for its stations only."""
    ae = make_ae(settings)
    for abstract in (VERIFICATION, MODALITY_WORKLIST_FIND, MODALITY_PERFORMED_PROCEDURE_STEP):
        ae.add_supported_context(abstract)
    ae.require_calling_aet = sorted(settings.node.accepts)
    ae.require_called_aet = True
    return ae


def handler_table(ctx: WorklistContext) -> list[tuple[Any, ...]]:
    """Every event the worklist answers, and the function that answers it."""
    return [
        *NODELAY_HANDLERS,
        *DimseMetrics.for_settings(ctx.config.settings).handlers,
        (evt.EVT_REJECTED, handlers.log_rejected),
        (evt.EVT_C_ECHO, handlers.handle_echo, [ctx]),
        (evt.EVT_C_FIND, handlers.handle_find, [ctx]),
        (evt.EVT_N_CREATE, handlers.handle_n_create, [ctx]),
        (evt.EVT_N_SET, handlers.handle_n_set, [ctx]),
    ]


def start_server(config: WorklistConfig) -> ThreadedAssociationServer:
    """Start serving in background threads.

    The returned server's ``server_address`` holds the real port (useful with
    port 0); ``shutdown()`` stops it.
    """
    settings = config.settings
    ctx = build_context(config)
    ae = build_ae(settings)
    server = serve(ae, settings, handler_table(ctx))
    log.info("listening", ae_title=settings.ae_title, host=settings.bind_address,
             tls=server.ssl_context is not None,
             port=server.server_address[1], emr=config.emr_url,
             steps=str(config.steps_dir))
    return server
