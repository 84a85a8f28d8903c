"""Instance files on disk: atomic writes, checksums and the study/series layout.

Layout under the archive root::

    <StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.<sha256[:16]>.dcm

The checksum in the name means that a replaced instance (same SOP Instance UID,
other content) is written beside the old file, never over it: the index is then
switched to the new file in one transaction and only after that is the old file
removed. A crash at any point leaves, at worst, a file the index does not name,
which :meth:`Archive.unreferenced` finds at the next start.

A file is written to ``.incoming/`` first, flushed with fsync, renamed into
place, and its directory is flushed too, so that a success answered after
:meth:`Archive.write` returns survives a crash of the process or the machine.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


__all__ = ["Archive", "checksum_of"]

INCOMING = ".incoming"


def checksum_of(data: bytes) -> str:
    """Return the SHA-256 of ``data`` in hex, the checksum kept in the index."""
    return hashlib.sha256(data).hexdigest()


class Archive:
    """The folder of instance files.

    Args:
        root: the archive folder, created if missing.
        fsync: flush files and folders to stable storage before returning.
    """

    def __init__(self, root: Path, fsync: bool = True) -> None:
        self.root = root
        self.fsync = fsync
        self.incoming = root / INCOMING
        self.incoming.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def relative_path(study_uid: str, series_uid: str, sop_uid: str, checksum: str) -> str:
        """Return the path of an instance file relative to the root."""
        return f"{study_uid}/{series_uid}/{sop_uid}.{checksum[:16]}.dcm"

    def absolute(self, relative: str) -> Path:
        """Return the absolute path of ``relative``."""
        return self.root / relative

    def write(self, relative: str, data: bytes) -> None:
        """Write ``data`` to ``relative`` atomically and durably.

        If the file exists already (same instance, same content) it is left.
        """
        target = self.root / relative
        if target.exists():
            return
        new_dirs = self._make_parents(target.parent)
        fd, temporary = tempfile.mkstemp(dir=self.incoming, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                if self.fsync:
                    os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        if self.fsync:
            for directory in [target.parent, *new_dirs]:
                self._fsync_dir(directory)

    def _make_parents(self, directory: Path) -> list[Path]:
        """Create ``directory`` and missing parents; return the parents to flush."""
        created: list[Path] = []
        missing = []
        probe = directory
        while not probe.exists():
            missing.append(probe)
            probe = probe.parent
        for path in reversed(missing):
            path.mkdir(exist_ok=True)
            created.append(path.parent)
        return created

    @staticmethod
    def _fsync_dir(directory: Path) -> None:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self, relative: str) -> bytes:
        """Return the bytes of an instance file."""
        return (self.root / relative).read_bytes()

    def verify(self, relative: str, checksum: str) -> bool:
        """Return whether the file exists and its SHA-256 equals ``checksum``."""
        try:
            return checksum_of(self.read(relative)) == checksum
        except FileNotFoundError:
            return False

    def remove(self, relative: str) -> None:
        """Delete an instance file and the folders it leaves empty."""
        target = self.root / relative
        target.unlink(missing_ok=True)
        for directory in (target.parent, target.parent.parent):
            try:
                directory.rmdir()
            except OSError:
                break

    def files(self) -> Iterator[str]:
        """Yield the relative path of every instance file."""
        for path in self.root.glob("*/*/*.dcm"):
            yield path.relative_to(self.root).as_posix()

    def clear_incoming(self) -> int:
        """Delete partial files left by a crash; return how many there were."""
        leftovers = list(self.incoming.glob("*.part"))
        for path in leftovers:
            path.unlink(missing_ok=True)
        return len(leftovers)

    def unreferenced(self, referenced: set[str]) -> list[str]:
        """Return the instance files the index does not name."""
        return [path for path in self.files() if path not in referenced]
