"""Performed procedure steps and the EMR orders they move.

An N-CREATE (IN PROGRESS) moves the order *in_progress*; an N-SET to COMPLETED
moves it to *acquired* (through *in_progress* if the station's N-CREATE never
reached the EMR), to DISCONTINUED moves it *discontinued* with the reason.
The order is the one whose Study Instance UID (or Accession Number) a
Scheduled Step Attributes item names; a step of no order (unscheduled, PS3.17
J.4) is kept but changes nothing in the EMR, and so is a step whose order
has already moved on (e.g. a nurse discontinued it).

The EMR is told before the step is saved: a step the EMR could not hear about
is refused with Processing Failure and the station can send it again; a
repeated move is harmless. This module knows nothing about associations.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from pydicom.dataset import Dataset

from imaging_common.exceptions import DicomInputError
from imaging_common.logs import correlated, get_logger
from imaging_common.status import NStatus
from imaging_common.uids import validate_uid
from worklist.emr_client import EmrClient, EmrRefused, EmrUnavailable, Order
from worklist.mpps import (
    COMPLETED,
    DISCONTINUED,
    MppsError,
    discontinuation_reason,
    validate_create,
    validate_set,
)
from worklist.step_store import StepStore

__all__ = ["ProcedureSteps", "TOLERATED_REFUSALS"]

log = get_logger(__name__)

#: The EMR states an order passes through while its step is performed
#: (:class:`emr.states.OrderState` values).
SCHEDULED, IN_PROGRESS, ACQUIRED, ORDER_DISCONTINUED = (
    "scheduled", "in_progress", "acquired", "discontinued")
_PATH = (SCHEDULED, IN_PROGRESS, ACQUIRED)
#: HTTP statuses of an EMR refusal that leave the step valid: the order is
#: gone (404) or its state no longer allows the move (409).
TOLERATED_REFUSALS = frozenset({404, 409})


def _moves(current: str, target: str) -> tuple[str, ...] | None:
    """The states that take an order from ``current`` to ``target``; ``()`` if it
    is there, ``None`` if it has moved past or away."""
    if current == target:
        return ()
    if target == ORDER_DISCONTINUED:
        return (target,) if current in (SCHEDULED, IN_PROGRESS) else None
    if current in _PATH and _PATH.index(current) < _PATH.index(target):
        return _PATH[_PATH.index(current) + 1:_PATH.index(target) + 1]
    return None


class ProcedureSteps:
    """N-CREATE and N-SET of MPPS instances, kept in ``store``, with their effect on
    EMR orders.

    Args:
        store: where the steps are kept.
        emr: the EMR's REST API.
        on_order_change: called after an order's state changed (the worklist
            forgets its cached items).
    """

    def __init__(self, store: StepStore, emr: EmrClient,
                 on_order_change: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.emr = emr
        self.on_order_change = on_order_change
        # One step operation at a time: a duplicate N-CREATE racing the first
        # must see it, and an N-SET must apply to the latest version.
        self._lock = threading.Lock()

    def create(self, uid: str, step: Dataset, peer: str) -> Dataset:
        """Record a new step IN PROGRESS and move its order *in_progress*.

        Raises:
            MppsError: the step is invalid, exists already (0x0111), or the EMR
                could not be told (0x0110).
        """
        uid = _instance_uid(uid)
        validate_create(step)
        with self._lock, correlated(accession_number=_accession_number(step)):
            if self.store.get(uid) is not None:
                raise MppsError(NStatus.DUPLICATE_SOP_INSTANCE, "this step exists already")
            self._move_orders(step, IN_PROGRESS, "", uid, peer)
            step.SOPInstanceUID = uid
            self.store.put(uid, step)
            log.info("mpps created", peer=peer, sop_instance_uid=uid)
        return step

    def update(self, uid: str, changes: Dataset, peer: str) -> Dataset:
        """Apply an N-SET; a final status moves the order on.

        Raises:
            MppsError: no such step (0x0112), a change not allowed, or the EMR
                could not be told (0x0110).
        """
        uid = _instance_uid(uid)
        with self._lock:
            current = self.store.get(uid)
            if current is None:
                raise MppsError(NStatus.NO_SUCH_SOP_INSTANCE, "no such step")
            updated = validate_set(current, changes)
            status = updated.PerformedProcedureStepStatus
            with correlated(accession_number=_accession_number(updated)):
                if status == COMPLETED:
                    self._move_orders(updated, ACQUIRED, "", uid, peer)
                elif status == DISCONTINUED:
                    self._move_orders(updated, ORDER_DISCONTINUED,
                                      discontinuation_reason(updated, peer), uid, peer)
                self.store.put(uid, updated)
                log.info("mpps updated", peer=peer, sop_instance_uid=uid, status=status)
        return updated

    def _move_orders(self, step: Dataset, target: str, reason: str, uid: str,
                     peer: str) -> None:
        """Move the order of each Scheduled Step Attributes item to ``target``.

        Raises:
            MppsError: the EMR is unreachable or refused the worklist (0x0110).
        """
        try:
            for item in step.ScheduledStepAttributesSequence:
                order = self.emr.find_order(str(item.get("StudyInstanceUID") or ""),
                                            str(item.get("AccessionNumber") or ""))
                if order is None:
                    log.warning("mpps names no order", peer=peer, sop_instance_uid=uid)
                    continue
                self._move_order(order, target, reason, uid, peer)
        except EmrUnavailable as exc:
            log.error("mpps refused: the EMR is unreachable", peer=peer,
                      sop_instance_uid=uid, reason=str(exc))
            raise MppsError(NStatus.PROCESSING_FAILURE,
                            "the EMR is unreachable; send the step again") from None
        except EmrRefused as exc:
            log.error("mpps refused: the EMR refused the worklist", peer=peer,
                      sop_instance_uid=uid, reason=str(exc))
            raise MppsError(NStatus.PROCESSING_FAILURE, "the EMR refused the update") from None

    def _move_order(self, order: Order, target: str, reason: str, uid: str,
                    peer: str) -> None:
        moves = _moves(str(order.get("state")), target)
        if moves is None:
            log.warning("mpps: the order has moved on, its state is kept", peer=peer,
                        sop_instance_uid=uid, order=order.get("id"), state=order.get("state"))
            return
        if not moves:
            return
        try:
            for state in moves:
                self.emr.change_state(int(order["id"]), state, reason)
        except EmrRefused as exc:
            if exc.status not in TOLERATED_REFUSALS:
                raise
            # The order moved meanwhile (a nurse discontinued it): the step is
            # still a true record of what was performed.
            log.warning("mpps: the EMR kept the order's state", peer=peer,
                        sop_instance_uid=uid, order=order.get("id"), reason=str(exc))
        else:
            log.info("order state changed", peer=peer, sop_instance_uid=uid,
                     order=order.get("id"), state=moves[-1])
        finally:
            self.on_order_change()


def _accession_number(step: Dataset) -> str:
    """The first scheduled step's Accession Number: the order this step's log lines follow."""
    for item in step.get("ScheduledStepAttributesSequence") or ():
        if item.get("AccessionNumber"):
            return str(item.AccessionNumber)
    return ""


def _instance_uid(uid: str) -> str:
    """The step's SOP Instance UID, checked.

    Raises:
        MppsError: not a valid UID (0x0115 Invalid Argument Value).
    """
    try:
        return validate_uid(uid, "SOP Instance UID")
    except DicomInputError as exc:
        raise MppsError(NStatus.INVALID_ARGUMENT_VALUE, str(exc)) from None
