"""Instances the node's storage SCP received, one folder per study.

Layout under the inbox root::

    <StudyInstanceUID>/<SOPInstanceUID>.dcm

A file is written under ``.incoming/`` first, flushed, renamed into place and
its folder flushed, so that an instance acknowledged with C-STORE success is
whole on disk even if the process dies right after; a re-sent instance
replaces the earlier file in one rename. UIDs name the files, so each is
checked to be a UID (digits and dots) before it touches a path.

The inbox is a working copy: the PACS is the archive. A job clears its
study's folder before retrieving and after finishing. Workers on other hosts
than the storage SCP need this folder shared with them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from io import BytesIO
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from imaging_common.exceptions import DicomInputError
from imaging_common.uids import validate_uid

__all__ = ["Inbox", "read_header"]

INCOMING = ".incoming"


def read_header(encoded: bytes) -> Dataset:
    """The dataset of a Part 10 byte string, without its pixel data.

    Raises:
        DicomInputError: the bytes are not a readable DICOM dataset.
    """
    try:
        return dcmread(BytesIO(encoded), stop_before_pixels=True)
    except (InvalidDicomError, EOFError, ValueError, KeyError, TypeError, IndexError,
            OverflowError) as exc:
        raise DicomInputError(f"the dataset cannot be decoded: {exc}") from None


class Inbox:
    """The received instances.

    Args:
        root: the inbox folder, created if missing.
        fsync: flush files and folders to stable storage before returning.
    """

    def __init__(self, root: Path, fsync: bool = True) -> None:
        self.root = root
        self.fsync = fsync
        self.incoming = root / INCOMING
        self.incoming.mkdir(parents=True, exist_ok=True)

    def study_folder(self, study_instance_uid: str) -> Path:
        """The folder of one study (which may not exist)."""
        return self.root / validate_uid(study_instance_uid, "StudyInstanceUID")

    def put(self, study_instance_uid: str, sop_instance_uid: str, encoded: bytes) -> Path:
        """Write one Part 10 instance atomically and durably; return its path.

        Raises:
            DicomInputError: a UID is not a UID.
            OSError: the disk is full or not writable.
        """
        folder = self.study_folder(study_instance_uid)
        target = folder / f"{validate_uid(sop_instance_uid, 'SOPInstanceUID')}.dcm"
        created = not folder.exists()
        folder.mkdir(exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=self.incoming, suffix=".part")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(encoded)
                handle.flush()
                if self.fsync:
                    os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        if self.fsync:
            for directory in ([folder, self.root] if created else [folder]):
                _fsync_dir(directory)
        return target

    def files(self, study_instance_uid: str) -> list[Path]:
        """The instance files of a study, by name."""
        folder = self.study_folder(study_instance_uid)
        return sorted(folder.glob("*.dcm")) if folder.is_dir() else []

    def read(self, study_instance_uid: str) -> list[Dataset]:
        """Every instance of a study, pixel data included.

        Raises:
            DicomInputError: a file cannot be read as DICOM.
        """
        datasets: list[Dataset] = []
        for path in self.files(study_instance_uid):
            try:
                datasets.append(dcmread(path))
            except (InvalidDicomError, EOFError, ValueError, KeyError, TypeError) as exc:
                raise DicomInputError(f"received instance {path.name} is unreadable: "
                                      f"{exc}") from None
        return datasets

    def clear(self, study_instance_uid: str) -> None:
        """Remove a study's folder and everything in it."""
        shutil.rmtree(self.study_folder(study_instance_uid), ignore_errors=True)

    def clear_incoming(self) -> int:
        """Delete partial files left by a crash; return how many there were."""
        leftovers = list(self.incoming.glob("*.part"))
        for path in leftovers:
            path.unlink(missing_ok=True)
        return len(leftovers)


def _fsync_dir(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
