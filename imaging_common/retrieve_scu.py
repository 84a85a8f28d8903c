"""C-GET as a service class user: a study's instances over one association.

C-GET (PS3.4 C.4.3) brings the instances back on the association that asked
for them, so the requester needs no listening port and no place in the
archive's table of move destinations: the right tool for a command-line job
such as fetching the images behind a set of labels. The requester proposes
each storage SOP class it wants with the SCP role (PS3.7 D.3.3.4), and the
archive sends C-STOREs that :func:`get_study` hands to a callback.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pynetdicom import AE, evt

from imaging_common.dimse import associate
from imaging_common.exceptions import PeerError
from imaging_common.settings import Node
from imaging_common.sop_classes import STORAGE_TRANSFER_SYNTAXES, STUDY_ROOT_GET
from imaging_common.status import GeneralStatus, RetrieveStatus, StoreStatus

__all__ = ["GetResult", "get_study"]

#: Presentation Context IDs are the odd numbers 1-255 (PS3.8 9.3.2.2).
MAX_CONTEXTS = 128
#: A callback given each received instance; returns True to keep it.
InstanceHandler = Callable[[Dataset], bool]


@dataclass(frozen=True)
class GetResult:
    """What a C-GET brought: instances kept, instances refused, the final status."""

    received: int
    refused: int
    status: int


def get_study(ae: AE, peer: Node, study_instance_uid: str, sop_classes: Sequence[str],
              on_instance: InstanceHandler) -> GetResult:
    """Retrieve every instance of a study whose SOP class is in ``sop_classes``.

    ``on_instance`` gets each instance as a dataset with its file meta
    information; when it returns False or raises, the C-STORE is answered with
    a failure and the archive counts the instance as failed.

    Raises:
        PeerError: the association failed, or the archive answered the C-GET
            with a failure status.
    """
    from pynetdicom.presentation import build_context, build_role

    # One presentation context per transfer syntax (PS3.7 D.3.3.2 lets the
    # acceptor pick one syntax per context): each instance comes back in the
    # syntax it is archived in, a JPEG frame byte for byte, not decompressed.
    contexts = [build_context(STUDY_ROOT_GET)]
    contexts += [build_context(sop_class, syntax)
                 for sop_class in sop_classes for syntax in STORAGE_TRANSFER_SYNTAXES]
    if len(contexts) > MAX_CONTEXTS:
        raise ValueError(f"{len(sop_classes)} SOP classes need more than {MAX_CONTEXTS} "
                         f"presentation contexts")
    roles = [build_role(sop_class, scp_role=True) for sop_class in sop_classes]
    counts = {"received": 0, "refused": 0}

    def handle_store(event: evt.Event) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        try:
            kept = on_instance(ds)
        except Exception:  # the callback's failure is the archive's answer, not ours
            kept = False
        counts["received" if kept else "refused"] += 1
        return int(StoreStatus.SUCCESS if kept else StoreStatus.CANNOT_UNDERSTAND)

    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = study_instance_uid
    status = int(GeneralStatus.SUCCESS)
    with associate(ae, peer, contexts, ext_neg=roles,
                   evt_handlers=[(evt.EVT_C_STORE, handle_store)]) as assoc:
        for response, _ in assoc.send_c_get(query, STUDY_ROOT_GET):
            if not response or "Status" not in response:
                raise PeerError(f"{peer.ae_title} aborted the C-GET or did not answer")
            status = int(response.Status)
    if status not in (GeneralStatus.SUCCESS, RetrieveStatus.SUB_OPERATIONS_COMPLETE_WITH_FAILURES):
        raise PeerError(f"{peer.ae_title} answered the C-GET with status 0x{status:04X}")
    return GetResult(counts["received"], counts["refused"], status)
