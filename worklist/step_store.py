"""Performed procedure steps on disk: one DICOM JSON file (PS3.18 F.2) per SOP Instance.

A step is written to a temporary file, flushed, renamed over its file and the
folder flushed (unless fsync is off), so a step acknowledged to the station is
still there after a crash or a restart, whole or not at all.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydicom.dataset import Dataset

from imaging_common.uids import validate_uid

__all__ = ["StepStore"]

_SUFFIX = ".json"
_PARTIAL = ".partial"


class StepStore:
    """MPPS instances kept under ``root``, looked up by SOP Instance UID.

    Args:
        root: the folder (created if needed); left-over partial writes are removed.
        fsync: flush each file and the folder to stable storage before returning.
    """

    def __init__(self, root: Path, fsync: bool = True) -> None:
        self.root = root
        self.fsync = fsync
        root.mkdir(parents=True, exist_ok=True)
        for partial in root.glob(f"*{_PARTIAL}"):
            partial.unlink()

    def _path(self, uid: str) -> Path:
        """The file of a step; a UID has only digits and dots, so no path tricks.

        Raises:
            DicomInputError: ``uid`` is not a valid UID.
        """
        return self.root / f"{validate_uid(uid, 'SOPInstanceUID')}{_SUFFIX}"

    def get(self, uid: str) -> Dataset | None:
        """The step with this SOP Instance UID, or ``None``."""
        try:
            text = self._path(uid).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return Dataset.from_json(text)

    def put(self, uid: str, step: Dataset) -> None:
        """Write the step durably, replacing any earlier version."""
        path = self._path(uid)
        partial = path.with_name(path.name + _PARTIAL)
        with open(partial, "w", encoding="utf-8") as handle:
            json.dump(step.to_json_dict(), handle)
            handle.flush()
            if self.fsync:
                os.fsync(handle.fileno())
        os.replace(partial, path)
        if self.fsync:
            folder = os.open(self.root, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob(f"*{_SUFFIX}"))
