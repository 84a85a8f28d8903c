"""DIMSE handlers of the worklist: thin translators between events and functions.

Each ``handle_<verb>(event, ctx)`` takes what it needs from the event, calls
the matching or procedure-step functions, and maps their outcome or their
domain exception to a named status. A malformed identifier or attribute
list, whatever it makes pydicom or a reader raise, gets the service's refusal
status and one log line naming the SOP class and the kind of failure, never a
value. Other unexpected exceptions are left to pynetdicom, which logs them and
answers a failure status.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

from pydicom.dataset import Dataset
from pynetdicom import evt
from pynetdicom.dimse_primitives import N_CREATE, N_SET

from imaging_common.exceptions import (
    MALFORMED_DATASET_ERRORS,
    DicomInputError,
    PeerError,
)
from imaging_common.listener import calling_ae, refuse_malformed
from imaging_common.logs import get_logger
from imaging_common.reactor import wait_until_sent
from imaging_common.sop_classes import MODALITY_PERFORMED_PROCEDURE_STEP, MODALITY_WORKLIST_FIND
from imaging_common.status import GeneralStatus, NStatus, QueryStatus
from imaging_common.uids import new_uid
from worklist.cache import TimedCache
from worklist.config import WorklistConfig
from worklist.matching import match, respond, validate_query
from worklist.mpps import MppsError
from worklist.procedure_steps import ProcedureSteps

__all__ = ["WorklistContext", "handle_echo", "handle_find", "handle_n_create",
           "handle_n_set", "log_rejected"]

log = get_logger(__name__)

#: The accession numbers one worklist answer names in its log line, at most.
MAX_LOGGED_ACCESSIONS = 50

#: A status (or a status dataset) and the identifier or attribute list that goes with it.
StatusAndDataset = tuple[int | Dataset, Dataset | None]


@dataclass(frozen=True)
class WorklistContext:
    """What every handler needs, built once at start-up."""

    config: WorklistConfig
    worklist: TimedCache[list[Dataset]]
    steps: ProcedureSteps


def _failure(status: int, comment: str, error_id: int | None = None) -> Dataset:
    """A status dataset with an Error Comment (0000,0902, at most 64 characters)
    and, if given, an Error ID (0000,0903)."""
    result = Dataset()
    result.Status = status
    result.ErrorComment = comment[:64]
    if error_id is not None:
        result.ErrorID = error_id
    return result


def log_rejected(event: evt.Event) -> None:
    """EVT_REJECTED: say who was turned away (a calling AE not in ``accepts``)."""
    log.warning("association rejected", peer=calling_ae(event),
                address=event.assoc.requestor.address)


def handle_echo(event: evt.Event, ctx: WorklistContext) -> int:
    """C-ECHO: the worklist is alive."""
    return GeneralStatus.SUCCESS


def handle_find(event: evt.Event, ctx: WorklistContext) -> Iterator[StatusAndDataset]:
    """Modality Worklist C-FIND: one pending response per matching item, then success.

    The EMR unreachable or refusing answers Unable to Process, never an empty
    success: a station must not take "no patients" for "no answer".
    """
    try:
        query = event.identifier
        validate_query(query)
    except DicomInputError as exc:
        log.warning("worklist find refused", peer=calling_ae(event), reason=str(exc))
        yield _failure(QueryStatus.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, str(exc)), None
        return
    except MALFORMED_DATASET_ERRORS as exc:
        comment = refuse_malformed(log, "worklist find", event, MODALITY_WORKLIST_FIND, exc)
        yield _failure(QueryStatus.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, comment), None
        return
    try:
        items = ctx.worklist.get()
    except PeerError as exc:
        log.error("worklist find failed: no scheduled orders from the EMR",
                  peer=calling_ae(event), reason=str(exc))
        yield _failure(QueryStatus.UNABLE_TO_PROCESS, "the EMR is unavailable"), None
        return
    try:
        yield from _matches(event, query, items)
    except MALFORMED_DATASET_ERRORS as exc:
        comment = refuse_malformed(log, "worklist find", event, MODALITY_WORKLIST_FIND, exc)
        yield _failure(QueryStatus.UNABLE_TO_PROCESS, comment), None


def _matches(event: evt.Event, query: Dataset,
             items: list[Dataset]) -> Iterator[StatusAndDataset]:
    matched: list[str] = []  # accession numbers: the orders a station was offered
    for item in items:
        if event.is_cancelled:
            log.info("worklist find cancelled", peer=calling_ae(event), matches=len(matched))
            yield QueryStatus.CANCEL, None
            return
        if match(query, item):
            matched.append(str(item.get("AccessionNumber", "")))
            yield QueryStatus.PENDING, respond(query, item)
            wait_until_sent(event.assoc)
    log.info("worklist find", peer=calling_ae(event), items=len(items), matches=len(matched),
             accession_numbers=matched[:MAX_LOGGED_ACCESSIONS])
    yield QueryStatus.SUCCESS, None


def _refused(verb: str, event: evt.Event, uid: str, exc: MppsError) -> Dataset:
    log.warning(f"mpps {verb} refused", peer=calling_ae(event), sop_instance_uid=uid,
                status=f"0x{exc.status:04X}", reason=str(exc))
    return _failure(exc.status, str(exc), exc.error_id)


def handle_n_create(event: evt.Event, ctx: WorklistContext) -> StatusAndDataset:
    """MPPS N-CREATE: a new step IN PROGRESS (PS3.4 F.7.2.1).

    A request without an Affected SOP Instance UID gets one, returned in the
    response (PS3.7 10.1.5.1.4).
    """
    request = cast(N_CREATE, event.request)
    if request.AffectedSOPClassUID != MODALITY_PERFORMED_PROCEDURE_STEP:
        return NStatus.SOP_CLASS_NOT_SUPPORTED, None
    given = request.AffectedSOPInstanceUID
    uid = str(given or new_uid())
    try:
        ctx.steps.create(uid, event.attribute_list, calling_ae(event))
    except MppsError as exc:
        return _refused("create", event, uid, exc), None
    except MALFORMED_DATASET_ERRORS as exc:
        comment = refuse_malformed(log, "mpps create", event, request.AffectedSOPClassUID, exc)
        return _failure(NStatus.PROCESSING_FAILURE, comment), None
    if given:
        return NStatus.SUCCESS, None
    reply = Dataset()
    reply.AffectedSOPInstanceUID = uid
    return NStatus.SUCCESS, reply


def handle_n_set(event: evt.Event, ctx: WorklistContext) -> StatusAndDataset:
    """MPPS N-SET: update a step IN PROGRESS, or end it (PS3.4 F.7.2.2)."""
    request = cast(N_SET, event.request)
    if request.RequestedSOPClassUID != MODALITY_PERFORMED_PROCEDURE_STEP:
        return NStatus.SOP_CLASS_NOT_SUPPORTED, None
    uid = str(request.RequestedSOPInstanceUID)
    try:
        changes = event.modification_list
        ctx.steps.update(uid, changes, calling_ae(event))
    except MppsError as exc:
        return _refused("set", event, uid, exc), None
    except MALFORMED_DATASET_ERRORS as exc:
        comment = refuse_malformed(log, "mpps set", event, request.RequestedSOPClassUID, exc)
        return _failure(NStatus.PROCESSING_FAILURE, comment), None
    return NStatus.SUCCESS, changes
