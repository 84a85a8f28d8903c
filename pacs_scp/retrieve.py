"""C-MOVE and C-GET: which instances to send, and in which transfer syntax.

Instances go out as stored. When the peer accepted only an uncompressed
context for a compressed instance's SOP class, the instance is decompressed
for that send; when it did not accept Explicit VR Big Endian for an instance
kept in it, the instance goes out little endian (the stored file is never
changed).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import Association
from sqlalchemy.orm import Session

from imaging_common.encoding import to_little_endian
from imaging_common.sop_classes import BIG_ENDIAN_TRANSFER_SYNTAX, UNCOMPRESSED_TRANSFER_SYNTAXES
from pacs_scp.archive import Archive
from pacs_scp.query import Query, matching_instances

__all__ = ["Item", "fit_to_association", "plan_retrieve", "read_items"]


@dataclass(frozen=True)
class Item:
    """One instance to send: what the index knows of it."""

    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    file_path: str


def plan_retrieve(session: Session, query: Query) -> list[Item]:
    """Return every instance a retrieve identifier selects, in index order.

    Only the few columns needed are kept, so that a large retrieve stays small
    in memory; the count is needed up front for the sub-operation numbers.

    Raises:
        DicomInputError: the level's unique key is missing.
    """
    return [
        Item(i.sop_instance_uid, i.sop_class_uid, i.transfer_syntax_uid, i.file_path)
        for i in matching_instances(session, query)
    ]


def read_items(archive: Archive, items: list[Item]) -> Iterator[tuple[Item, Dataset | None]]:
    """Yield each item with its dataset read from disk, or ``None`` if unreadable."""
    for item in items:
        try:
            yield item, dcmread(archive.absolute(item.file_path))
        except (OSError, ValueError, EOFError):
            yield item, None


def fit_to_association(assoc: Association, dataset: Dataset) -> Dataset:
    """Return ``dataset`` in a transfer syntax the peer accepted for its class.

    A compressed dataset whose compressed context the peer refused is
    decompressed, and a Big Endian one made little endian, when a little
    endian context for its class was accepted (pynetdicom then encodes it
    explicit or implicit VR, as that context says); in any other case it is
    returned unchanged (and the send will fail and count as a failed
    sub-operation).
    """
    transfer_syntax = dataset.file_meta.TransferSyntaxUID
    accepted = {
        cx.transfer_syntax[0]
        for cx in assoc.accepted_contexts
        if cx.abstract_syntax == dataset.SOPClassUID
    }
    if transfer_syntax in accepted or transfer_syntax in UNCOMPRESSED_TRANSFER_SYNTAXES:
        return dataset
    if not accepted & set(UNCOMPRESSED_TRANSFER_SYNTAXES):
        return dataset
    if transfer_syntax == BIG_ENDIAN_TRANSFER_SYNTAX:
        to_little_endian(dataset)
    else:
        # A new transfer syntax is not a new instance: keep the SOP Instance UID,
        # which pydicom replaces by default.
        dataset.decompress(generate_instance_uid=False)
    return dataset
