"""Storing received instances: file first, index second, success last.

Re-sent SOP Instance UID policy (documented in the README): the newest copy
wins. Identical content is acknowledged without writing anything; different
content is written beside the old file, the index row is switched to it in one
transaction, and the old file is removed after the commit. At no moment does
the index name a file that is absent or incomplete.
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
)
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from imaging_common.encoding import check_complete
from imaging_common.exceptions import DicomInputError
from imaging_common.logs import get_logger
from pacs_scp.archive import Archive, checksum_of
from pacs_scp.index import (
    ParentCache,
    StoredFile,
    existing_file,
    indexed_paths,
    is_indexed_path,
    parents_key,
    put_instance,
    upsert_parents,
)
from pacs_scp.record import InstanceRecord, record_from_dataset

__all__ = ["DatasetMismatchError", "InstanceStore", "Outcome", "StoreResult", "reconcile"]

log = get_logger(__name__)

#: Attempts for a transaction that lost a race with another association.
TRANSACTION_ATTEMPTS = 5


class DatasetMismatchError(DicomInputError):
    """The dataset's SOP Class or Instance UID differs from the C-STORE request's."""


class Outcome:
    """What storing did: a new instance, a replaced one, or an identical copy."""

    STORED = "stored"
    REPLACED = "replaced"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class StoreResult:
    sop_instance_uid: str
    outcome: str
    checksum: str
    accession_number: str = ""  # the order the instance belongs to, for the log


def parse_header(encoded: bytes) -> Dataset:
    """Read a Part 10 byte string without its pixel data.

    Raises:
        DicomInputError: the bytes are not a readable DICOM dataset.
    """
    try:
        return dcmread(BytesIO(encoded), stop_before_pixels=True)
    except (InvalidDicomError, EOFError, ValueError, KeyError, TypeError,
            IndexError, OverflowError) as exc:
        raise DicomInputError(f"the dataset cannot be decoded: {exc}") from None


class InstanceStore:
    """Stores received instances into an archive folder and its index.

    Args:
        sessions: the index's session factory.
        archive: the instance files.
    """

    def __init__(self, sessions: sessionmaker[Session], archive: Archive) -> None:
        self.sessions = sessions
        self.engine: Engine = sessions.kw["bind"]
        self.archive = archive
        self.parents = ParentCache()

    def store(
        self,
        encoded: bytes,
        transfer_syntax_uid: str,
        calling_ae_title: str,
        expected_sop_class_uid: str | None = None,
        expected_sop_instance_uid: str | None = None,
    ) -> StoreResult:
        """Store one Part 10 encoded instance durably; return what happened.

        Args:
            encoded: the instance as received, with its file meta information.
            transfer_syntax_uid: the transfer syntax it was received in.
            calling_ae_title: the peer that sent it.
            expected_sop_class_uid: the request's Affected SOP Class UID, which
                is also the presentation context's abstract syntax.
            expected_sop_instance_uid: the request's Affected SOP Instance UID.

        Raises:
            DatasetMismatchError: the dataset is not the instance the request named.
            DicomInputError: the dataset is truncated, cannot be decoded, lacks a
                required UID, or its study belongs to another patient.
        """
        record = self._validated_record(
            encoded, transfer_syntax_uid, expected_sop_class_uid, expected_sop_instance_uid
        )
        checksum = checksum_of(encoded)
        stored = StoredFile(
            transfer_syntax_uid=transfer_syntax_uid,
            file_path=self.archive.relative_path(
                record.study_instance_uid, record.series_instance_uid,
                record.sop_instance_uid, checksum,
            ),
            file_size=len(encoded),
            checksum=checksum,
            calling_ae_title=calling_ae_title,
        )
        self.archive.write(stored.file_path, encoded)
        try:
            outcome, replaced = self._index(record, stored)
        except BaseException:
            self._discard_unindexed(stored.file_path)
            raise
        if replaced is not None:
            self.archive.remove(replaced)
        return StoreResult(record.sop_instance_uid, outcome, checksum,
                           record.values.get("AccessionNumber", ""))

    @staticmethod
    def _validated_record(
        encoded: bytes,
        transfer_syntax_uid: str,
        expected_sop_class_uid: str | None,
        expected_sop_instance_uid: str | None,
    ) -> InstanceRecord:
        has_pixel_data = check_complete(
            encoded,
            implicit=transfer_syntax_uid == ImplicitVRLittleEndian,
            deflated=transfer_syntax_uid == DeflatedExplicitVRLittleEndian,
            big_endian=transfer_syntax_uid == ExplicitVRBigEndian,
        )
        header = parse_header(encoded)
        record = record_from_dataset(header)
        if has_pixel_data is False and "Rows" in header:
            raise DicomInputError("the image has no pixel data (truncated?)")
        if expected_sop_class_uid and record.sop_class_uid != expected_sop_class_uid:
            raise DatasetMismatchError("SOPClassUID differs from the request's")
        if expected_sop_instance_uid and record.sop_instance_uid != expected_sop_instance_uid:
            raise DatasetMismatchError("SOPInstanceUID differs from the request's")
        return record

    def _index(self, record: InstanceRecord, stored: StoredFile) -> tuple[str, str | None]:
        """Index the written file; return the outcome and the file it replaced."""
        key = parents_key(record)
        for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
            try:
                with self.engine.begin() as connection:
                    existing = existing_file(connection, record.sop_instance_uid)
                    if existing == (stored.checksum, stored.file_path):
                        return Outcome.DUPLICATE, None
                    series_pk = self.parents.get(key)
                    parents_changed = series_pk is None
                    if series_pk is None:
                        series_pk = upsert_parents(connection, record)
                    put_instance(connection, record, series_pk, stored,
                                 replacing=existing is not None)
                if parents_changed:
                    # Other cached digests may describe rows this one updated.
                    self.parents.clear()
                self.parents.put(key, series_pk)
                if existing is None:
                    return Outcome.STORED, None
                return Outcome.REPLACED, existing[1] if existing[1] != stored.file_path else None
            except (IntegrityError, OperationalError):
                # Another association indexed the same patient, study, series or
                # instance meanwhile; the next attempt sees its rows.
                if attempt == TRANSACTION_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def _discard_unindexed(self, relative: str) -> None:
        """Remove a file written for a transaction that failed, unless it is indexed."""
        with self.sessions() as session:
            if not is_indexed_path(session, relative):
                self.archive.remove(relative)


def reconcile(sessions: sessionmaker[Session], archive: Archive) -> dict[str, int]:
    """Make files and index agree after a crash; return what was done.

    Partial files are deleted, files the index does not name are deleted (they
    were never acknowledged), and index rows whose file is missing are
    reported (they cannot occur unless someone removed files by hand).
    """
    partial = archive.clear_incoming()
    with sessions() as session:
        referenced = indexed_paths(session)
    orphans = archive.unreferenced(referenced)
    for relative in orphans:
        archive.remove(relative)
    missing = sum(1 for path in referenced if not archive.absolute(path).exists())
    summary = {"partial_files": partial, "orphan_files": len(orphans), "missing_files": missing}
    if missing:
        log.error("index names missing files", **summary)
    elif partial or orphans:
        log.warning("archive reconciled after an interrupted run", **summary)
    return summary
