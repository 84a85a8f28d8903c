"""C-MOVE as a service class user: have an archive send instances to a third AE.

PS3.4 C.4.2: the archive opens its own association to the Move Destination
(which it must know by AE title) and sends the matching instances with
C-STORE sub-operations; the requester gets Pending responses with the
sub-operation counts, then a final status. When the final status arrives
every sub-operation is over, so a destination that answers C-STORE success
only once an instance is durable has it on disk by then.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.presentation import build_context

from imaging_common.dimse import associate
from imaging_common.exceptions import PeerError
from imaging_common.settings import Node
from imaging_common.sop_classes import STUDY_ROOT_MOVE
from imaging_common.status import RetrieveStatus

__all__ = ["MoveResult", "move"]

_ACCEPTED_FINAL = frozenset({RetrieveStatus.SUCCESS,
                             RetrieveStatus.SUB_OPERATIONS_COMPLETE_WITH_FAILURES})


@dataclass(frozen=True)
class MoveResult:
    """The sub-operation counts of a finished C-MOVE, and its final status."""

    completed: int
    failed: int
    warning: int
    status: int


def _count(response: Dataset, keyword: str) -> int:
    value = response.get(keyword)
    return int(value) if value not in (None, "") else 0


def move(ae: AE, peer: Node, identifier: Dataset, destination: str,
         model: str = STUDY_ROOT_MOVE) -> MoveResult:
    """Ask ``peer`` to send what ``identifier`` matches to the AE ``destination``.

    A final status of Sub-operations Complete - One or more Failures (0xB000)
    is returned, not raised: the caller reads :attr:`MoveResult.failed`.

    Raises:
        PeerError: the association failed, the peer aborted or went silent,
            or the final status is a failure (e.g. 0xA801 Move Destination
            Unknown).
    """
    final: Dataset | None = None
    with associate(ae, peer, [build_context(model)]) as assoc:
        for status, _ in assoc.send_c_move(identifier, destination, model):
            if not status or "Status" not in status:
                raise PeerError(f"{peer.ae_title} aborted the C-MOVE or did not answer")
            if int(status.Status) != RetrieveStatus.PENDING:
                final = status
    if final is None:
        raise PeerError(f"{peer.ae_title} sent no final C-MOVE status")
    code = int(final.Status)
    if code not in _ACCEPTED_FINAL:
        comment = final.get("ErrorComment", "")
        raise PeerError(f"{peer.ae_title} answered the C-MOVE to {destination} with status "
                        f"0x{code:04X} {comment}".rstrip())
    return MoveResult(
        completed=_count(final, "NumberOfCompletedSuboperations"),
        failed=_count(final, "NumberOfFailedSuboperations"),
        warning=_count(final, "NumberOfWarningSuboperations"),
        status=code,
    )
