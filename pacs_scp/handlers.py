"""DIMSE handlers of the archive: thin translators between events and functions.

Each ``handle_<verb>(event, ctx)`` takes what it needs from the event, calls
the storage, query or commitment functions, and maps their outcome or their
domain exception to a named status. A malformed dataset or identifier,
whatever it makes pydicom or a reader raise, gets the service's refusal status
and one log line naming the SOP class and the kind of failure, never a value.
Other unexpected exceptions are left to pynetdicom, which logs them and
answers a failure status.
"""

from __future__ import annotations

import errno
import threading
from io import BytesIO
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from pydicom.dataset import Dataset
from pynetdicom import Association, build_context, build_role, evt
from pynetdicom.dimse_primitives import C_FIND, C_GET, C_MOVE, C_STORE, N_ACTION
from sqlalchemy.exc import DataError, InvalidRequestError
from sqlalchemy.orm import Session, sessionmaker

from imaging_common.dimse import NODELAY_HANDLERS, associate, make_ae
from imaging_common.encoding import part10
from imaging_common.exceptions import (
    MALFORMED_DATASET_ERRORS,
    DicomInputError,
    PeerError,
)
from imaging_common.listener import calling_ae, refuse_malformed
from imaging_common.logs import correlated, get_logger
from imaging_common.metrics import DimseMetrics
from imaging_common.reactor import wait_until_sent
from imaging_common.settings import Settings
from imaging_common.sop_classes import (
    PATIENT_ROOT_MODELS,
    STORAGE_COMMITMENT_PUSH,
    VERIFICATION,
    storage_contexts,
)
from imaging_common.status import (
    GeneralStatus,
    NStatus,
    QueryStatus,
    RetrieveStatus,
    StoreStatus,
)
from pacs_scp import commitment
from pacs_scp.archive import Archive
from pacs_scp.query import parse_query, run_query
from pacs_scp.retrieve import fit_to_association, plan_retrieve, read_items
from pacs_scp.storage import DatasetMismatchError, InstanceStore

__all__ = ["PacsContext", "handle_echo", "handle_find", "handle_get",
           "handle_move", "handle_n_action", "handle_store"]

log = get_logger(__name__)

#: What a query built from a malformed identifier can raise while it runs: the
#: database refusing a value (too long for its column) or the statement built from it.
QUERY_ERRORS: tuple[type[Exception], ...] = (
    *MALFORMED_DATASET_ERRORS, DataError, InvalidRequestError)

#: Seconds to wait for the reply to a commitment report on the request's association.
SAME_ASSOCIATION_TIMEOUT = 3.0


@dataclass(frozen=True)
class PacsContext:
    """What every handler needs, built once at start-up."""

    settings: Settings
    sessions: sessionmaker[Session]
    archive: Archive
    store: InstanceStore


def _failure(status: int, comment: str) -> Dataset:
    """A status dataset with an Error Comment (0000,0902), at most 64 chars."""
    result = Dataset()
    result.Status = status
    result.ErrorComment = comment[:64]
    return result


def _accession_key(event: evt.Event) -> str:
    """A query's Accession Number key when it names one order (no wildcard)."""
    try:
        value = str(event.identifier.get("AccessionNumber", "") or "")
    except Exception:  # an identifier that does not decode is refused elsewhere
        return ""
    return "" if any(c in value for c in "*?\\") else value


def handle_echo(event: evt.Event, ctx: PacsContext) -> int:
    """C-ECHO: the archive is alive."""
    return GeneralStatus.SUCCESS


def handle_store(event: evt.Event, ctx: PacsContext) -> int | Dataset:
    """C-STORE: keep the instance as received; success only once durable."""
    request = cast(C_STORE, event.request)
    transfer_syntax = event.context.transfer_syntax
    try:
        encoded = part10(cast(BytesIO, request.DataSet).getvalue(),
                         str(request.AffectedSOPClassUID), str(request.AffectedSOPInstanceUID),
                         transfer_syntax, calling_ae(event))
        result = ctx.store.store(
            encoded,
            transfer_syntax_uid=transfer_syntax,
            calling_ae_title=calling_ae(event),
            expected_sop_class_uid=str(request.AffectedSOPClassUID),
            expected_sop_instance_uid=str(request.AffectedSOPInstanceUID),
        )
    except DatasetMismatchError as exc:
        log.warning("store refused", peer=calling_ae(event), reason=str(exc))
        return _failure(StoreStatus.DATASET_DOES_NOT_MATCH_SOP_CLASS, str(exc))
    except DicomInputError as exc:
        log.warning("store refused", peer=calling_ae(event), reason=str(exc))
        return _failure(StoreStatus.CANNOT_UNDERSTAND, str(exc))
    except MALFORMED_DATASET_ERRORS as exc:
        comment = refuse_malformed(log, "store", event, request.AffectedSOPClassUID, exc)
        return _failure(StoreStatus.DATASET_DOES_NOT_MATCH_SOP_CLASS, comment)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        log.error("store failed: disk full", peer=calling_ae(event))
        return _failure(StoreStatus.OUT_OF_RESOURCES, "archive disk is full")
    with correlated(accession_number=result.accession_number):
        log.info("stored", peer=calling_ae(event), sop_instance_uid=result.sop_instance_uid,
                 outcome=result.outcome)
    return StoreStatus.SUCCESS


def handle_find(
    event: evt.Event, ctx: PacsContext
) -> Iterator[tuple[int | Dataset, Dataset | None]]:
    """C-FIND: stream one pending response per match, then success.

    An identifier that does not decode is refused as not matching the SOP
    class; one that decodes but cannot be matched, as unable to process.
    """
    model = cast(C_FIND, event.request).AffectedSOPClassUID
    try:
        query = parse_query(event.identifier, patient_root=model in PATIENT_ROOT_MODELS)
    except DicomInputError as exc:
        log.warning("find refused", peer=calling_ae(event), reason=str(exc))
        yield _failure(QueryStatus.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, str(exc)), None
        return
    except MALFORMED_DATASET_ERRORS as exc:
        comment = refuse_malformed(log, "find", event, model, exc)
        yield _failure(QueryStatus.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, comment), None
        return
    try:
        yield from _find_matches(event, ctx, query)
    except QUERY_ERRORS as exc:
        comment = refuse_malformed(log, "find", event, model, exc)
        yield _failure(QueryStatus.UNABLE_TO_PROCESS, comment), None


def _find_matches(
    event: evt.Event, ctx: PacsContext, query: Any
) -> Iterator[tuple[int | Dataset, Dataset | None]]:
    matches = 0
    with ctx.sessions() as session, correlated(accession_number=_accession_key(event)):
        for response in run_query(session, query, ctx.settings.ae_title):
            wait_until_sent(event.assoc)
            if event.is_cancelled:
                log.info("find cancelled", peer=calling_ae(event), matches=matches)
                yield QueryStatus.CANCEL, None
                return
            matches += 1
            yield QueryStatus.PENDING, response
        log.info("find", peer=calling_ae(event), level=query.level.value, matches=matches)
    yield QueryStatus.SUCCESS, None


def _retrieve_plan(event: evt.Event, ctx: PacsContext) -> tuple[list[Any], str | None]:
    model = cast("C_GET | C_MOVE", event.request).AffectedSOPClassUID
    try:
        query = parse_query(event.identifier, patient_root=model in PATIENT_ROOT_MODELS)
        with ctx.sessions() as session:
            return plan_retrieve(session, query), None
    except DicomInputError as exc:
        log.warning("retrieve refused", peer=calling_ae(event), reason=str(exc))
        return [], str(exc)
    except QUERY_ERRORS as exc:
        return [], refuse_malformed(log, "retrieve", event, model, exc)


def _sub_operations(
    event: evt.Event, ctx: PacsContext, items: list[Any], store_assoc: dict[str, Association]
) -> Iterator[tuple[int | Dataset, Dataset | None]]:
    for item, dataset in read_items(ctx.archive, items):
        if event.is_cancelled:
            log.info("retrieve cancelled", peer=calling_ae(event))
            yield RetrieveStatus.CANCEL, None
            return
        if dataset is None:
            log.error("instance file unreadable", sop_instance_uid=item.sop_instance_uid)
            dataset = Dataset()
            dataset.SOPInstanceUID = item.sop_instance_uid
        elif "assoc" in store_assoc:
            dataset = fit_to_association(store_assoc["assoc"], dataset)
        yield RetrieveStatus.PENDING, dataset


def handle_move(event: evt.Event, ctx: PacsContext) -> Iterator[Any]:
    """C-MOVE: send the matches to a destination from the network file."""
    destination_title = str(event.move_destination).strip()
    destination = ctx.settings.network.find_ae(destination_title)
    if (destination is None or destination.port is None
            or destination_title not in ctx.settings.node.move_destinations):
        log.warning("move destination unknown", peer=calling_ae(event),
                    destination=destination_title)
        yield None, None  # pynetdicom answers 0xA801 Move Destination Unknown
        return
    items, error = _retrieve_plan(event, ctx)
    store_assoc: dict[str, Association] = {}

    def capture(established: evt.Event) -> None:
        store_assoc["assoc"] = established.assoc

    # Nothing to send still opens the association pynetdicom insists on.
    contexts = (storage_contexts({(i.sop_class_uid, i.transfer_syntax_uid) for i in items})
                or [build_context(VERIFICATION)])
    yield destination.host, destination.port, {
        "contexts": contexts,
        "evt_handlers": [*NODELAY_HANDLERS, *DimseMetrics.for_settings(ctx.settings).handlers,
                         (evt.EVT_ESTABLISHED, capture)],
    }
    if error is not None:
        yield 1
        yield _failure(RetrieveStatus.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, error), None
        return
    with correlated(accession_number=_accession_key(event)):
        log.info("move", peer=calling_ae(event), destination=destination_title,
                 instances=len(items))
    yield len(items)
    yield from _sub_operations(event, ctx, items, store_assoc)


def handle_get(event: evt.Event, ctx: PacsContext) -> Iterator[Any]:
    """C-GET: send the matches back on the requester's own association."""
    items, error = _retrieve_plan(event, ctx)
    if error is not None:
        yield 1
        yield _failure(RetrieveStatus.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, error), None
        return
    with correlated(accession_number=_accession_key(event)):
        log.info("get", peer=calling_ae(event), instances=len(items))
    yield len(items)
    yield from _sub_operations(event, ctx, items, {"assoc": event.assoc})


def handle_n_action(
    event: evt.Event, ctx: PacsContext
) -> tuple[int | Dataset, Dataset | None]:
    """N-ACTION: accept a storage commitment request; report in the background."""
    request = cast(N_ACTION, event.request)
    if request.RequestedSOPClassUID != STORAGE_COMMITMENT_PUSH:
        return NStatus.SOP_CLASS_NOT_SUPPORTED, None
    if request.RequestedSOPInstanceUID != commitment.COMMITMENT_INSTANCE_UID:
        return NStatus.NO_SUCH_SOP_INSTANCE, None
    try:
        commit_request = commitment.parse_request(
            int(request.ActionTypeID or 0), event.action_information
        )
    except DicomInputError as exc:
        log.warning("commitment refused", peer=calling_ae(event), reason=str(exc))
        return _failure(NStatus.INVALID_ARGUMENT_VALUE, str(exc)), None
    except MALFORMED_DATASET_ERRORS as exc:
        comment = refuse_malformed(log, "commitment", event, request.RequestedSOPClassUID, exc)
        return _failure(NStatus.PROCESSING_FAILURE, comment), None
    threading.Thread(
        target=_report_commitment,
        args=(ctx, event.assoc, calling_ae(event), commit_request),
        name="commitment-report",
        daemon=True,
    ).start()
    return NStatus.SUCCESS, None


def _report_commitment(
    ctx: PacsContext, assoc: Association, peer: str, request: commitment.CommitmentRequest
) -> None:
    """Evaluate a commitment request and send its N-EVENT-REPORT.

    pynetdicom pauses the association's reactor before sending, so on the same
    association the report follows the N-ACTION response.
    """
    result = commitment.evaluate(ctx.sessions, ctx.archive, request)
    info = result.event_information(ctx.settings.ae_title)
    args = (info, result.event_type_id, STORAGE_COMMITMENT_PUSH,
            commitment.COMMITMENT_INSTANCE_UID)
    log.info("commitment", peer=peer, transaction_uid=request.transaction_uid,
             committed=len(result.committed), failed=len(result.failed))
    if assoc.is_established:
        # A requester that waits for the report answers at once; one that is
        # releasing never will, so do not hold the report for the full timeout.
        assoc.dimse_timeout = min(assoc.dimse_timeout or SAME_ASSOCIATION_TIMEOUT,
                                  SAME_ASSOCIATION_TIMEOUT)
        try:
            status, _ = assoc.send_n_event_report(*args)
        except (PeerError, RuntimeError):  # closing, or closed before the call
            status = Dataset()  # released meanwhile: report on a new association
        if status.get("Status") == NStatus.SUCCESS:
            return
    node = ctx.settings.network.find_ae(peer)
    if node is None or node.port is None:
        log.error("commitment report undeliverable: requester has no address", peer=peer)
        return
    ae = make_ae(ctx.settings)
    context = build_context(STORAGE_COMMITMENT_PUSH)
    context.scu_role, context.scp_role = False, True
    try:
        with associate(ae, node, [context],  # counted by make_ae's metrics
                       ext_neg=[build_role(STORAGE_COMMITMENT_PUSH, scp_role=True)]) as report:
            status, _ = report.send_n_event_report(*args)
    except PeerError as exc:
        log.error("commitment report undeliverable", peer=peer, reason=str(exc))
        return
    if status.get("Status") != NStatus.SUCCESS:
        log.error("commitment report refused", peer=peer, status=status.get("Status"))
