"""Coded concepts Fovea writes, each with the context group it is drawn from.

Codes are SNOMED CT (``SCT``) or DICOM (``DCM``) concepts as listed in PS3.16;
every code sequence item is built from a :class:`Code`, never typed inline.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.uid import UID

__all__ = [
    "ANATOMIC_REGION_EYE",
    "Code",
    "FUNDUS_CAMERA",
    "UTC_SYNCHRONIZATION_FRAME",
]


@dataclass(frozen=True)
class Code:
    """A coded concept: value, coding scheme designator and code meaning."""

    value: str
    scheme: str
    meaning: str

    def to_item(self) -> Dataset:
        """Return a Code Sequence Macro item (PS3.3 Table 8.8-1)."""
        item = Dataset()
        item.CodeValue = self.value
        item.CodingSchemeDesignator = self.scheme
        item.CodeMeaning = self.meaning
        return item


#: CID 4209 Ophthalmic Anatomic Structure: the eye, the region a fundus photo shows.
ANATOMIC_REGION_EYE = Code("81745001", "SCT", "Eye")

#: CID 4202 Ophthalmic Image Acquisition Device.
FUNDUS_CAMERA = Code("409899009", "SCT", "Fundus Camera")

#: PS3.6 A.4: the Synchronization Frame of Reference of Coordinated Universal Time.
UTC_SYNCHRONIZATION_FRAME = UID("1.2.840.10008.15.1.1")
