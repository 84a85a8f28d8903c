"""The outbox folder: each image as a DICOM file, written atomically, until committed.

A file is written under a temporary name, flushed to stable storage, renamed
into place and the folder flushed too, so that after a crash a file is
either whole or absent (POSIX rename is atomic). The database row that names
the file is committed only after that: a file without a row is the trace of
an upload that never finished, and :meth:`Outbox.sweep` removes it at start.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from pathlib import Path

from pydicom.dataset import Dataset

from imaging_common.logs import get_logger
from imaging_common.uids import validate_uid

__all__ = ["Outbox"]

log = get_logger(__name__)

_SUFFIX = ".dcm"
_TEMPORARY = ".part"


class Outbox:
    """The folder of images waiting for the archive.

    Args:
        folder: where the files live (created if needed).
        fsync: flush files and the folder to stable storage (off only in tests).
    """

    def __init__(self, folder: Path, fsync: bool = True) -> None:
        self.folder = folder
        self.fsync = fsync
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        """The file called ``name``."""
        return self.folder / name

    def write(self, ds: Dataset) -> tuple[str, int]:
        """Write ``ds`` as a DICOM file named after its SOP Instance UID.

        Returns:
            the file's name and size.
        """
        name = validate_uid(ds.SOPInstanceUID, "SOPInstanceUID") + _SUFFIX
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        data = buffer.getvalue()
        temporary = self.folder / (name + _TEMPORARY)
        with open(temporary, "wb") as handle:
            handle.write(data)
            if self.fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, self.folder / name)
        self._sync_folder()
        return name, len(data)

    def remove(self, name: str) -> None:
        """Remove a file the archive has committed to (absent already is fine)."""
        self.path(name).unlink(missing_ok=True)

    def sweep(self, known: Iterable[str]) -> int:
        """Remove temporary files and files no database row names; return how many."""
        keep = set(known)
        removed = 0
        for path in self.folder.iterdir():
            if path.is_file() and (path.name.endswith(_TEMPORARY) or path.name not in keep):
                path.unlink()
                removed += 1
        if removed:
            log.warning("outbox: unfinished files removed", files=removed)
            self._sync_folder()
        return removed

    def _sync_folder(self) -> None:
        if not self.fsync:
            return
        descriptor = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
