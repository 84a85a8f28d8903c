"""Builders: strict read-back and dciodvfy with no errors, and input validation."""

from __future__ import annotations

import io
import subprocess
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import generate_frames
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit

from imaging_common.builders import (
    Equipment,
    Laterality,
    OphthalmicImage,
    Patient,
    Request,
    build_ophthalmic_photograph,
    jpeg_frame_info,
)
from imaging_common.exceptions import DicomInputError
from imaging_common.uids import new_uid
from tests.conftest import require_tool

PATIENT = Patient("MRN-0042", "Doe^Jane", date(1961, 7, 14), "F")
EQUIPMENT = Equipment(model_name="Fundus simulator", station_name="FUNDUS_CAM1",
                      device_serial_number="SN-1", software_versions="1.0")


def _request() -> Request:
    return Request(new_uid(), accession_number="A20261122001", requested_procedure_id="RP001",
                   scheduled_procedure_step_id="SPS001",
                   requested_procedure_description="AI diabetic-retinopathy screening",
                   referring_physician_name="Nurse^Nora")


def _jpeg(mode: str = "RGB", subsampling: int = 1, progressive: bool = False) -> bytes:
    rng = np.random.default_rng(7)
    shape = (120, 160, 3) if mode == "RGB" else (120, 160)
    picture = Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode)
    buffer = io.BytesIO()
    options = {"subsampling": subsampling} if mode == "RGB" else {}
    picture.save(buffer, "JPEG", quality=90, progressive=progressive, **options)
    return buffer.getvalue()


def _write_and_verify(ds: pydicom.Dataset, path: Path) -> pydicom.Dataset:
    """Save, read back under strict validation, and run dciodvfy: no errors."""
    ds.save_as(path, enforce_file_format=True)
    with pydicom.config.strict_reading():
        again = pydicom.dcmread(path)
        again.decode()
    dciodvfy = require_tool("dciodvfy")
    report = subprocess.run([dciodvfy, "-new", str(path)], capture_output=True, text=True)
    errors = [line for line in (report.stdout + report.stderr).splitlines()
              if line.startswith("Error")]
    assert errors == []
    return again


@pytest.mark.parametrize(
    ("mode", "subsampling", "photometric", "syntax"),
    [
        ("RGB", 1, "YBR_FULL_422", JPEGBaseline8Bit),
        ("RGB", 2, "YBR_FULL_422", JPEGBaseline8Bit),
        ("L", 0, "MONOCHROME2", JPEGBaseline8Bit),
        ("RGB", 0, "RGB", ExplicitVRLittleEndian),
    ],
)
def test_photograph_from_jpeg_validates(tmp_path: Path, mode: str, subsampling: int,
                                        photometric: str, syntax: str) -> None:
    jpeg = _jpeg(mode, subsampling)
    ds = build_ophthalmic_photograph(
        OphthalmicImage(Laterality.LEFT, jpeg=jpeg, acquired_at=datetime(2026, 11, 22, 9, 30),
                        horizontal_field_of_view=45.0, pupil_dilated=False),
        PATIENT, _request(), EQUIPMENT, series_instance_uid=new_uid())
    again = _write_and_verify(ds, tmp_path / "op.dcm")
    assert again.file_meta.TransferSyntaxUID == syntax
    assert again.PhotometricInterpretation == photometric
    assert again.LossyImageCompression == "01"
    assert (again.Rows, again.Columns) == (120, 160)
    if syntax == JPEGBaseline8Bit:
        (frame,) = generate_frames(again.PixelData, number_of_frames=1)
        assert frame.rstrip(b"\x00") == jpeg.rstrip(b"\x00")  # stored as received


@pytest.mark.parametrize("shape", [(64, 80, 3), (64, 80)])
def test_photograph_from_pixels_is_lossless(tmp_path: Path, shape: tuple[int, ...]) -> None:
    pixels = np.random.default_rng(3).integers(0, 255, shape, dtype=np.uint8)
    ds = build_ophthalmic_photograph(OphthalmicImage(Laterality.RIGHT, pixels=pixels),
                                     PATIENT, _request(), EQUIPMENT, new_uid())
    again = _write_and_verify(ds, tmp_path / "op.dcm")
    assert again.LossyImageCompression == "00"
    assert np.array_equal(again.pixel_array, pixels)


def test_worklist_identifiers_are_copied(tmp_path: Path) -> None:
    """PS3.17 J.2.2: Study UID, Accession and the Request Attributes Sequence."""
    request = _request()
    ds = build_ophthalmic_photograph(OphthalmicImage(Laterality.RIGHT, jpeg=_jpeg()),
                                     PATIENT, request, EQUIPMENT, new_uid())
    again = _write_and_verify(ds, tmp_path / "op.dcm")
    assert again.StudyInstanceUID == request.study_instance_uid
    assert again.AccessionNumber == request.accession_number
    (item,) = again.RequestAttributesSequence
    assert item.RequestedProcedureID == "RP001"
    assert item.ScheduledProcedureStepID == "SPS001"
    assert again.ImageLaterality == "R"
    assert again.PatientName == "Doe^Jane"
    assert again.AnatomicRegionSequence[0].CodeValue == "81745001"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not an image at all", "not a readable image"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 40, "not a readable image"),
    ],
)
def test_unreadable_jpeg_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(DicomInputError, match=message):
        jpeg_frame_info(data)


def test_png_and_progressive_jpeg_are_not_baseline() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG")
    with pytest.raises(DicomInputError, match="not a JPEG"):
        jpeg_frame_info(buffer.getvalue())
    with pytest.raises(DicomInputError, match="progressive"):
        jpeg_frame_info(_jpeg(progressive=True))


@pytest.mark.parametrize(
    "make",
    [
        lambda: Patient(""),
        lambda: Patient("X" * 65),
        lambda: Patient("MRN", "A^B^C^D^E^F"),
        lambda: Patient("MRN", "Doe\\Jane"),
        lambda: Patient("MRN", sex="X"),
        lambda: Request("1.2.3.abc"),
        lambda: Request(new_uid(), accession_number="A" * 17),
        lambda: OphthalmicImage(Laterality.LEFT),
        lambda: OphthalmicImage(Laterality.LEFT, pixels=np.zeros((4, 4), np.uint16)),
        lambda: OphthalmicImage(Laterality.LEFT, pixels=np.zeros((4, 4, 4), np.uint8)),
    ],
)
def test_invalid_inputs_are_refused(make: object) -> None:
    with pytest.raises(DicomInputError):
        make()  # type: ignore[operator]
