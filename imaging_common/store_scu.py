"""C-STORE as a service class user: send datasets over one association.

PS3.4 B.2.3: Success (0x0000) and the Warning statuses (0xB000, 0xB006,
0xB007) mean the peer kept the instance; a Refused (0xA7xx) status is a lack
of resources that may pass; an Error (0xA9xx, 0xCxxx) means the peer will not
take this dataset as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pynetdicom import AE

from imaging_common.dimse import associate
from imaging_common.exceptions import PeerError
from imaging_common.settings import Node
from imaging_common.sop_classes import storage_contexts
from imaging_common.status import StoreStatus

__all__ = ["StoreOutcome", "store_instances"]

_KEPT = frozenset({StoreStatus.SUCCESS, StoreStatus.COERCION_OF_DATA_ELEMENTS,
                   StoreStatus.ELEMENTS_DISCARDED,
                   StoreStatus.DATASET_DOES_NOT_MATCH_SOP_CLASS_WARNING})


@dataclass(frozen=True)
class StoreOutcome:
    """What the peer answered for one instance.

    ``status`` is ``None`` when the instance could not be sent at all (the
    peer accepted no presentation context for its SOP class and transfer
    syntax); ``comment`` then says so, or carries the Error Comment (0000,0902).
    """

    sop_instance_uid: str
    status: int | None
    comment: str = ""

    @property
    def kept(self) -> bool:
        """Success or a warning: the peer has the instance."""
        return self.status in _KEPT

    @property
    def out_of_resources(self) -> bool:
        """A Refused: Out of Resources status (0xA7xx), which may pass."""
        return self.status is not None and self.status & 0xFF00 == 0xA700

    def describe(self) -> str:
        """The outcome in a few words, for a log line or an error message."""
        if self.status is None:
            return self.comment
        return f"status 0x{self.status:04X} {self.comment}".rstrip()


def store_instances(ae: AE, peer: Node, datasets: Sequence[Dataset]) -> list[StoreOutcome]:
    """Send ``datasets`` (each with its file meta) to ``peer``; one outcome each, in order.

    Each dataset goes in the transfer syntax of its file meta information.

    Raises:
        PeerError: the association failed, or the peer aborted or did not answer.
    """
    pairs = [(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID)) for ds in datasets]
    outcomes: list[StoreOutcome] = []
    with associate(ae, peer, storage_contexts(pairs)) as assoc:
        for ds in datasets:
            uid = str(ds.SOPInstanceUID)
            try:
                status = assoc.send_c_store(ds)
            except ValueError as exc:  # pynetdicom: no accepted context for the dataset
                outcomes.append(StoreOutcome(uid, None, str(exc)))
                continue
            if not status or "Status" not in status:
                raise PeerError(f"{peer.ae_title} aborted the C-STORE or did not answer")
            outcomes.append(StoreOutcome(uid, int(status.Status),
                                         str(status.get("ErrorComment", ""))))
    return outcomes
