"""C-FIND as a service class user: the matches of one query, as a list.

PS3.4 C.4.1: the requester sends an identifier whose non-empty attributes are
matching keys and whose empty ones are return keys; the archive answers one
Pending response per match, then a final status.
"""

from __future__ import annotations

from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.presentation import build_context

from imaging_common.dimse import associate
from imaging_common.exceptions import PeerError
from imaging_common.settings import Node
from imaging_common.sop_classes import STUDY_ROOT_FIND
from imaging_common.status import QueryStatus

__all__ = ["find"]

_PENDING = frozenset({QueryStatus.PENDING, QueryStatus.PENDING_WARNING})


def find(ae: AE, peer: Node, identifier: Dataset, model: str = STUDY_ROOT_FIND) -> list[Dataset]:
    """Send one C-FIND and return every match.

    Args:
        ae: the requesting AE (its title is the Calling AE Title).
        peer: the archive to ask.
        identifier: the query, with its Query/Retrieve Level (0008,0052).
        model: the information model's SOP Class UID (Study Root by default).

    Raises:
        PeerError: the association failed, the peer aborted or went silent,
            or the final status is not Success.
    """
    matches: list[Dataset] = []
    with associate(ae, peer, [build_context(model)]) as assoc:
        for status, match in assoc.send_c_find(identifier, model):
            if not status or "Status" not in status:
                raise PeerError(f"{peer.ae_title} aborted the C-FIND or did not answer")
            code = int(status.Status)
            if code in _PENDING:
                if match is not None:
                    matches.append(match)
                continue
            if code != QueryStatus.SUCCESS:
                comment = status.get("ErrorComment", "")
                raise PeerError(f"{peer.ae_title} answered the C-FIND with status "
                                f"0x{code:04X} {comment}".rstrip())
    return matches
