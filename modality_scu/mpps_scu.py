"""MPPS as a service class user: N-CREATE and N-SET to the worklist (PS3.4 F.7.2).

The attribute lists come from :mod:`imaging_common.builders.procedure_step`;
this module only sends them and turns the answer into an outcome or a
:class:`~modality_scu.exceptions.PeerRefused`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pydicom.dataset import Dataset
from pynetdicom import AE, Association
from pynetdicom.presentation import build_context

from imaging_common.dimse import associate
from imaging_common.exceptions import PeerError
from imaging_common.logs import get_logger
from imaging_common.settings import Node
from imaging_common.sop_classes import MODALITY_PERFORMED_PROCEDURE_STEP
from imaging_common.status import MppsErrorId, NStatus
from modality_scu.exceptions import PeerRefused

__all__ = ["ATTRIBUTE_LIST_ERROR", "VALUE_OUT_OF_RANGE", "create_step", "is_already_final",
           "update_step"]

log = get_logger(__name__)

#: Warning statuses of N-CREATE and N-SET (PS3.7 C.4.2, C.4.3): the SCP kept
#: the step but ignored or coerced some attributes.
ATTRIBUTE_LIST_ERROR = 0x0107
VALUE_OUT_OF_RANGE = 0x0116
_ACCEPTED = frozenset({NStatus.SUCCESS, ATTRIBUTE_LIST_ERROR, VALUE_OUT_OF_RANGE})


@contextmanager
def _step_association(ae: AE, worklist: Node) -> Iterator[Association]:
    """An association with ``worklist`` on which MPPS can be sent.

    Raises:
        PeerError: no association, or the worklist accepted no MPPS context.
    """
    with associate(ae, worklist, [build_context(MODALITY_PERFORMED_PROCEDURE_STEP)]) as assoc:
        if not any(c.abstract_syntax == MODALITY_PERFORMED_PROCEDURE_STEP
                   for c in assoc.accepted_contexts):
            raise PeerError(f"{worklist.ae_title} does not accept MPPS "
                            f"(Modality Performed Procedure Step)")
        yield assoc


def _check(status: Dataset, peer: Node, what: str) -> None:
    if not status or "Status" not in status:
        raise PeerError(f"{peer.ae_title} aborted the {what} or did not answer")
    code = int(status.Status)
    if code not in _ACCEPTED:
        error_id = status.get("ErrorID")
        raise PeerRefused(f"{peer.ae_title} refused the {what}", code,
                          str(status.get("ErrorComment", "")).strip(),
                          int(error_id) if error_id is not None else None)


def is_already_final(error: PeerRefused) -> bool:
    """Whether an N-SET was refused because the step is final already (PS3.4
    F.7.2.2.2: Processing Failure with Error ID A710): a repeat of an N-SET
    that did arrive, e.g. before the station was restarted."""
    return (error.status == NStatus.PROCESSING_FAILURE
            and error.error_id == MppsErrorId.MAY_NO_LONGER_BE_UPDATED)


def create_step(ae: AE, worklist: Node, sop_instance_uid: str, attributes: Dataset) -> None:
    """Send the N-CREATE of an MPPS instance.

    Raises:
        PeerError: the worklist could not be reached or did not answer.
        PeerRefused: it answered a failure status.
    """
    with _step_association(ae, worklist) as assoc:
        status, _ = assoc.send_n_create(attributes, MODALITY_PERFORMED_PROCEDURE_STEP,
                                        sop_instance_uid)
    _check(status, worklist, "MPPS N-CREATE")
    log.info("mpps created", peer=worklist.ae_title, sop_instance_uid=sop_instance_uid,
             status=int(status.Status))


def update_step(ae: AE, worklist: Node, sop_instance_uid: str, modifications: Dataset) -> None:
    """Send an N-SET of an MPPS instance.

    Raises:
        PeerError: the worklist could not be reached or did not answer.
        PeerRefused: it answered a failure status.
    """
    with _step_association(ae, worklist) as assoc:
        status, _ = assoc.send_n_set(modifications, MODALITY_PERFORMED_PROCEDURE_STEP,
                                     sop_instance_uid)
    _check(status, worklist, "MPPS N-SET")
    log.info("mpps updated", peer=worklist.ae_title, sop_instance_uid=sop_instance_uid,
             state=str(modifications.get("PerformedProcedureStepStatus", "")),
             status=int(status.Status))
