"""UIDs: the one place where Fovea's UID root lives.

Fovea has no registered organisation root, so it uses the ``2.25`` arc of
PS3.5 B.2: ``2.25.`` followed by a 128-bit number written in decimal. New UIDs
come from random UUIDs; derived UIDs from a SHA-256 of their parts, so the same
parts always give the same UID (a re-run replaces instead of duplicating).
"""

from __future__ import annotations

import hashlib
import re
import uuid

from pydicom.uid import UID

from imaging_common.exceptions import DicomInputError

__all__ = [
    "IMPLEMENTATION_CLASS_UID",
    "IMPLEMENTATION_VERSION_NAME",
    "UID_ROOT",
    "derived_uid",
    "new_uid",
    "validate_uid",
]

#: The UID root of every UID Fovea creates (PS3.5 B.2, UUID-derived UIDs).
UID_ROOT = "2.25"


_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def validate_uid(value: object, keyword: str) -> str:
    """Return ``value`` as a UID string if it is a valid UID (PS3.5 9.1).

    Raises:
        DicomInputError: empty, longer than 64 characters, or not digits and dots.
    """
    text = str(value or "").strip().rstrip("\x00")
    if not text or len(text) > 64 or not _UID.match(text):
        raise DicomInputError(f"{keyword} is not a valid UID")
    return text


def new_uid() -> UID:
    """Return a new, globally unique UID."""
    return UID(f"{UID_ROOT}.{uuid.uuid4().int}")


def derived_uid(*parts: str) -> UID:
    """Return the UID determined by ``parts``: equal parts, equal UID.

    The first 128 bits of SHA-256 over the parts stand in for the UUID of
    PS3.5 B.2, which keeps the UID within 64 characters.
    """
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return UID(f"{UID_ROOT}.{int.from_bytes(digest[:16], 'big')}")


#: Identifies Fovea's DICOM implementation in association negotiation (PS3.7 D.3.3.2).
IMPLEMENTATION_CLASS_UID = derived_uid("fovea", "implementation-class")

#: The implementation version name sent with the implementation class UID.
IMPLEMENTATION_VERSION_NAME = "FOVEA_01"
