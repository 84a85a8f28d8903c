"""Builders of the DICOM objects Fovea writes.

Each builder takes typed, validated inputs and returns a complete pydicom
dataset with its file meta, ready to be sent or saved; every one is checked in
the tests by a strict read-back and by dciodvfy.

- :mod:`~imaging_common.builders.identity`: patient, request and equipment inputs.
- :mod:`~imaging_common.builders.ophthalmic`: Ophthalmic Photography 8 Bit Image.
"""

from imaging_common.builders.identity import Equipment, Patient, Request
from imaging_common.builders.ophthalmic import (
    JpegFrame,
    Laterality,
    OphthalmicImage,
    build_ophthalmic_photograph,
    jpeg_frame_info,
)

__all__ = [
    "Equipment",
    "JpegFrame",
    "Laterality",
    "OphthalmicImage",
    "Patient",
    "Request",
    "build_ophthalmic_photograph",
    "jpeg_frame_info",
]
