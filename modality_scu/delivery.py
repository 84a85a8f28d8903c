"""Delivery to the archive: C-STORE, then storage commitment, on one association.

PS3.4 J.3 (Storage Commitment Push Model): after storing, the station asks
the archive, with an N-ACTION, to take responsibility for the images, and
keeps the association open for the N-EVENT-REPORT that says which images it
committed to and which it could not. A report that does not come within the
timeout leaves the images stored but not committed; the outbox asks again
later. This module knows nothing about the outbox's database.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pynetdicom import AE, Association, evt
from pynetdicom.presentation import build_context

from imaging_common.dimse import associate
from imaging_common.exceptions import PeerError
from imaging_common.logs import get_logger
from imaging_common.settings import Node
from imaging_common.sop_classes import STORAGE_COMMITMENT_PUSH, storage_contexts
from imaging_common.status import NStatus
from imaging_common.store_scu import StoreOutcome
from imaging_common.uids import new_uid

__all__ = ["COMMITMENT_INSTANCE_UID", "Delivery", "OutgoingImage", "deliver"]

log = get_logger(__name__)

#: The well-known SOP Instance of the Storage Commitment Push Model (PS3.4 J.3.5).
COMMITMENT_INSTANCE_UID = "1.2.840.10008.1.20.1.1"
#: Action Type ID of "Request Storage Commitment" (PS3.4 J.3.2.1).
REQUEST_COMMITMENT = 1


@dataclass(frozen=True)
class OutgoingImage:
    """An image to deliver: its file, and whether it still has to be stored
    (``False``: the archive has it, only the commitment is missing)."""

    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str
    path: Path
    send: bool = True


@dataclass
class Delivery:
    """What the archive answered.

    Attributes:
        stored: C-STORE outcome of every image that was sent, by SOP Instance UID.
        committed: the images the commitment report confirms.
        not_committed: the images it lists as failed, with the Failure Reason.
        commitment_error: why no report was had (empty when one came).
    """

    stored: dict[str, StoreOutcome] = field(default_factory=dict)
    committed: set[str] = field(default_factory=set)
    not_committed: dict[str, int] = field(default_factory=dict)
    commitment_error: str = ""


class _ReportWaiter:
    """Receives the N-EVENT-REPORT of one commitment transaction on the association."""

    def __init__(self) -> None:
        self.transaction_uid = ""
        self.information: Dataset | None = None
        self.arrived = threading.Event()

    def handle(self, event: evt.Event) -> tuple[int, None]:
        info = event.event_information
        if info is not None and str(info.get("TransactionUID", "")) == self.transaction_uid:
            self.information = info
            self.arrived.set()
            return NStatus.SUCCESS, None
        return NStatus.INVALID_ARGUMENT_VALUE, None  # a report of no request of ours


def _send(assoc: Association, image: OutgoingImage) -> StoreOutcome:
    try:
        ds = dcmread(image.path)
    except (OSError, InvalidDicomError) as exc:
        return StoreOutcome(image.sop_instance_uid, None, f"its outbox file is unreadable: {exc}")
    try:
        status = assoc.send_c_store(ds)
    except ValueError:
        # No context for the stored transfer syntax was accepted; the
        # uncompressed one proposed beside it carries the same pixels (already
        # marked lossy-compressed), under the same SOP Instance UID.
        ds.decompress(generate_instance_uid=False)
        try:
            status = assoc.send_c_store(ds)
        except ValueError as exc:
            return StoreOutcome(image.sop_instance_uid, None,
                                f"the archive accepts no transfer syntax for it: {exc}")
    if not status or "Status" not in status:
        raise PeerError("the archive aborted the C-STORE or did not answer")
    return StoreOutcome(image.sop_instance_uid, int(status.Status),
                        str(status.get("ErrorComment", "")).strip())


def _commitment_request(transaction_uid: str, references: Sequence[OutgoingImage]) -> Dataset:
    info = Dataset()
    info.TransactionUID = transaction_uid
    items = []
    for image in references:
        item = Dataset()
        item.ReferencedSOPClassUID = image.sop_class_uid
        item.ReferencedSOPInstanceUID = image.sop_instance_uid
        items.append(item)
    info.ReferencedSOPSequence = items
    return info


def _request_commitment(assoc: Association, waiter: _ReportWaiter,
                        images: Sequence[OutgoingImage], timeout: float,
                        delivery: Delivery) -> None:
    if not any(c.abstract_syntax == STORAGE_COMMITMENT_PUSH for c in assoc.accepted_contexts):
        delivery.commitment_error = "the archive does not offer storage commitment"
        return
    waiter.transaction_uid = str(new_uid())
    status, _ = assoc.send_n_action(_commitment_request(waiter.transaction_uid, images),
                                    REQUEST_COMMITMENT, STORAGE_COMMITMENT_PUSH,
                                    COMMITMENT_INSTANCE_UID)
    if not status or "Status" not in status:
        raise PeerError("the archive aborted the commitment request or did not answer")
    if int(status.Status) != NStatus.SUCCESS:
        delivery.commitment_error = (f"the archive refused the commitment request "
                                     f"(status 0x{int(status.Status):04X})")
        return
    if not waiter.arrived.wait(timeout):
        delivery.commitment_error = f"no commitment report within {timeout:g} s"
        return
    info = waiter.information or Dataset()
    for item in info.get("ReferencedSOPSequence") or ():
        delivery.committed.add(str(item.ReferencedSOPInstanceUID))
    for item in info.get("FailedSOPSequence") or ():
        delivery.not_committed[str(item.ReferencedSOPInstanceUID)] = int(
            item.get("FailureReason", NStatus.PROCESSING_FAILURE))
    log.info("commitment report", transaction_uid=waiter.transaction_uid,
             committed=len(delivery.committed), failed=len(delivery.not_committed))


def deliver(ae: AE, archive: Node, images: Sequence[OutgoingImage],
            commitment_timeout: float) -> Delivery:
    """Store the images that need it, then ask for commitment of every image the
    archive has, and wait for the report on the same association.

    Raises:
        PeerError: the association failed, or the archive aborted or went silent.
    """
    waiter = _ReportWaiter()
    contexts = storage_contexts(
        {(i.sop_class_uid, i.transfer_syntax_uid) for i in images if i.send}, limit=127)
    contexts.append(build_context(STORAGE_COMMITMENT_PUSH))
    delivery = Delivery()
    with associate(ae, archive, contexts,
                   evt_handlers=[(evt.EVT_N_EVENT_REPORT, waiter.handle)]) as assoc:
        for image in images:
            if image.send:
                outcome = _send(assoc, image)
                delivery.stored[image.sop_instance_uid] = outcome
                log.info("stored" if outcome.kept else "store refused", peer=archive.ae_title,
                         sop_instance_uid=image.sop_instance_uid, status=outcome.status)
        held = [i for i in images
                if not i.send or delivery.stored[i.sop_instance_uid].kept]
        if held:
            _request_commitment(assoc, waiter, held, commitment_timeout, delivery)
    return delivery
