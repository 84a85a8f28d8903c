"""Storage Commitment Push Model, SCP side (PS3.4 J.3).

An N-ACTION asks the archive to take responsibility for a list of instances.
The archive answers the N-ACTION at once and then sends an N-EVENT-REPORT that
confirms only the instances that are indexed, of the SOP class the requester
named, and whose file on disk still has the checksum recorded when it was
stored. The report goes on the same association while the requester keeps it
open, otherwise on a new association to the requester's address from the
network file (PS3.4 J.3.3: either is allowed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydicom.dataset import Dataset
from sqlalchemy.orm import Session, sessionmaker

from imaging_common.exceptions import DicomInputError
from imaging_common.status import CommitmentFailure
from imaging_common.uids import validate_uid
from pacs_scp.archive import Archive
from pacs_scp.index import instances_by_uid

__all__ = [
    "COMMITMENT_INSTANCE_UID",
    "CommitmentRequest",
    "CommitmentResult",
    "evaluate",
    "parse_request",
]

#: The well-known SOP Instance of the Storage Commitment Push Model (PS3.4 J.3.5).
COMMITMENT_INSTANCE_UID = "1.2.840.10008.1.20.1.1"
#: Action Type ID of "Request Storage Commitment" (PS3.4 J.3.2.1).
REQUEST_COMMITMENT = 1
#: Event Type IDs of the report: all succeeded, or some failed (PS3.4 J.3.3.1).
ALL_COMMITTED = 1
SOME_FAILED = 2


@dataclass(frozen=True)
class CommitmentRequest:
    transaction_uid: str
    references: tuple[tuple[str, str], ...]  # (SOP Class UID, SOP Instance UID)


@dataclass
class CommitmentResult:
    transaction_uid: str
    committed: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str, CommitmentFailure]] = field(default_factory=list)

    @property
    def event_type_id(self) -> int:
        return SOME_FAILED if self.failed else ALL_COMMITTED

    def event_information(self, retrieve_ae_title: str) -> Dataset:
        """The N-EVENT-REPORT Event Information (PS3.4 J.3.3.1.1)."""
        info = Dataset()
        info.TransactionUID = self.transaction_uid
        info.RetrieveAETitle = retrieve_ae_title
        if self.committed:
            info.ReferencedSOPSequence = [
                _reference(sop_class, sop_instance) for sop_class, sop_instance in self.committed
            ]
        if self.failed:
            items = []
            for sop_class, sop_instance, reason in self.failed:
                item = _reference(sop_class, sop_instance)
                item.FailureReason = int(reason)
                items.append(item)
            info.FailedSOPSequence = items
        return info


def _reference(sop_class: str, sop_instance: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class
    item.ReferencedSOPInstanceUID = sop_instance
    return item


def parse_request(action_type_id: int, information: Dataset | None) -> CommitmentRequest:
    """Validate an N-ACTION request for storage commitment.

    Raises:
        DicomInputError: wrong action type, no Transaction UID, or no references.
    """
    if action_type_id != REQUEST_COMMITMENT:
        raise DicomInputError(f"action type {action_type_id} is not a commitment request")
    if information is None:
        raise DicomInputError("the request has no action information")
    transaction_uid = validate_uid(information.get("TransactionUID"), "TransactionUID")
    references = tuple(
        (
            validate_uid(item.get("ReferencedSOPClassUID"), "ReferencedSOPClassUID"),
            validate_uid(item.get("ReferencedSOPInstanceUID"), "ReferencedSOPInstanceUID"),
        )
        for item in information.get("ReferencedSOPSequence", [])
    )
    if not references:
        raise DicomInputError("ReferencedSOPSequence is missing or empty")
    return CommitmentRequest(transaction_uid, references)


def evaluate(
    sessions: sessionmaker[Session], archive: Archive, request: CommitmentRequest
) -> CommitmentResult:
    """Decide, instance by instance, what the archive can commit to."""
    result = CommitmentResult(request.transaction_uid)
    with sessions() as session:
        indexed = instances_by_uid(session, (uid for _, uid in request.references))
        stored = {uid: (i.sop_class_uid, i.file_path, i.checksum) for uid, i in indexed.items()}
    for sop_class, sop_instance in request.references:
        if sop_instance not in stored:
            result.failed.append(
                (sop_class, sop_instance, CommitmentFailure.NO_SUCH_OBJECT_INSTANCE))
            continue
        stored_class, path, checksum = stored[sop_instance]
        if stored_class != sop_class:
            result.failed.append(
                (sop_class, sop_instance, CommitmentFailure.CLASS_INSTANCE_CONFLICT))
        elif not archive.verify(path, checksum):
            result.failed.append((sop_class, sop_instance, CommitmentFailure.PROCESSING_FAILURE))
        else:
            result.committed.append((sop_class, sop_instance))
    return result
