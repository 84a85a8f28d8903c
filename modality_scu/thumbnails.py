"""Small pictures of an examination's photographs, for the technician's pages.

A held picture's thumbnail is made when its page asks for it; a sent image's
is made once, when the image enters the outbox, and kept under its SOP
Instance UID: the outbox file itself goes once the archive has committed it.
Thumbnails are PNG, at most :data:`THUMBNAIL_SIZE` pixels a side.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from pathlib import Path

from PIL import Image

from modality_scu.photographs import Photograph, picture_rgb

__all__ = ["THUMBNAIL_SIZE", "ThumbnailStore", "thumbnail_png"]

#: The longest side of a thumbnail, in pixels.
THUMBNAIL_SIZE = 200
#: A SOP Instance UID (PS3.5 9.1): digits and dots only, so it is a safe file name.
_UID = re.compile(r"^[0-9.]{1,64}$")


def thumbnail_png(photo: Photograph) -> bytes:
    """The photograph as a PNG of at most :data:`THUMBNAIL_SIZE` pixels a side."""
    picture = Image.fromarray(picture_rgb(photo, most=4 * THUMBNAIL_SIZE))
    picture.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


class ThumbnailStore:
    """The folder of sent images' thumbnails, one ``<SOP Instance UID>.png`` each."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def _path(self, sop_instance_uid: str) -> Path:
        """Raises ValueError for anything but a UID."""
        if not _UID.match(sop_instance_uid):
            raise ValueError(f"not a SOP Instance UID: {sop_instance_uid!r}")
        return self.folder / f"{sop_instance_uid}.png"

    def keep(self, pairs: Iterable[tuple[str, Photograph]]) -> None:
        """Make and keep the thumbnail of each (SOP Instance UID, photograph), and
        the name it was given by (the uploaded file's, or what was simulated)."""
        for sop_instance_uid, photo in pairs:
            path = self._path(sop_instance_uid)
            path.write_bytes(thumbnail_png(photo))
            path.with_suffix(".txt").write_text(photo.name or photo.source, "utf-8")

    def has(self, sop_instance_uid: str) -> bool:
        """Whether the image's thumbnail was kept."""
        return self._path(sop_instance_uid).is_file()

    def get(self, sop_instance_uid: str) -> bytes | None:
        """The image's thumbnail, or ``None`` when none was kept."""
        path = self._path(sop_instance_uid)
        return path.read_bytes() if path.is_file() else None

    def name_of(self, sop_instance_uid: str) -> str:
        """The name the image was given by, or ``""`` when none was kept."""
        path = self._path(sop_instance_uid).with_suffix(".txt")
        return path.read_text("utf-8") if path.is_file() else ""
