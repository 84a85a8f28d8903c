"""The structural check that catches truncated datasets pydicom would accept,
Part 10 framing, and the change from Big Endian to little endian."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from pydicom import config, dcmread
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian

from imaging_common.encoding import check_complete, dataset_offset, part10, to_little_endian
from imaging_common.exceptions import DicomInputError
from imaging_common.uids import IMPLEMENTATION_CLASS_UID
from tests.conftest import dcmtk
from tests.factory import as_implicit, as_jpeg_baseline, as_rle, make_instance, write


def as_big_endian(ds: Dataset) -> Dataset:
    ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    return ds


@pytest.mark.parametrize("variant", ["explicit", "implicit", "rle", "jpeg", "big-endian"])
def test_every_cut_inside_an_element_is_caught(tmp_path: Path, variant: str) -> None:
    ds = make_instance(samples=3 if variant == "jpeg" else 1)
    ds.RequestAttributesSequence = [Dataset()]
    ds.RequestAttributesSequence[0].RequestedProcedureID = "RP1"
    ds = {"explicit": lambda d: d, "implicit": as_implicit, "rle": as_rle,
          "jpeg": as_jpeg_baseline, "big-endian": as_big_endian}[variant](ds)
    data = write(ds, tmp_path / "x.dcm").read_bytes()
    implicit, big_endian = variant == "implicit", variant == "big-endian"
    assert check_complete(data, implicit, big_endian=big_endian) is True
    for cut in range(300, len(data)):
        try:
            has_pixels = check_complete(data[:cut], implicit, big_endian=big_endian)
        except DicomInputError:
            continue
        # A cut between two elements is well formed; it then lacks the pixels.
        assert has_pixels is False, cut


def test_big_endian_read_as_little_endian_is_refused(tmp_path: Path) -> None:
    data = write(as_big_endian(make_instance()), tmp_path / "x.dcm").read_bytes()
    with pytest.raises(DicomInputError, match="truncated or malformed"):
        check_complete(data, implicit=False)


def test_missing_meta_is_refused() -> None:
    with pytest.raises(DicomInputError, match="file meta"):
        check_complete(b"\x00" * 200, implicit=False)


@pytest.mark.parametrize("source", ["STORESCU", "ODD", "A"])
def test_part10_framing_reads_back_under_strict_pydicom(tmp_path: Path, source: str) -> None:
    ds = make_instance()
    encoded = write(ds, tmp_path / "x.dcm").read_bytes()
    body = encoded[dataset_offset(encoded):]
    framed = part10(body, ds.SOPClassUID, ds.SOPInstanceUID + "1", ExplicitVRLittleEndian,
                    source)
    with config.strict_reading():
        again = dcmread(BytesIO(framed))
    meta = again.file_meta
    assert meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID + "1"
    assert meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    assert meta.SourceApplicationEntityTitle == source
    assert meta.FileMetaInformationGroupLength == dataset_offset(framed) - 144
    assert again.PatientID == ds.PatientID
    assert framed.endswith(body)


@pytest.mark.parametrize("bits", [8, 16, 32])
def test_big_endian_from_dcmtk_becomes_little_endian_losslessly(tmp_path: Path,
                                                                bits: int) -> None:
    """DCMTK's dcmconv makes the Big Endian file; every OW, OF value and pixel survives."""
    dtype = {8: "u1", 16: "<u2", 32: "<u4"}[bits]
    pixels = (np.arange(24, dtype=np.uint64).reshape(4, 6) * 0x01020305).astype(dtype)
    ds = make_instance(rows=4, columns=6)
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelData = pixels.tobytes()
    ds["PixelData"].VR = "OB" if bits == 8 else "OW"
    icon = Dataset()  # 16-bit OW inside a sequence item
    icon.Rows, icon.Columns, icon.SamplesPerPixel = 2, 2, 1
    icon.PhotometricInterpretation = "MONOCHROME2"
    icon.BitsAllocated, icon.BitsStored, icon.HighBit, icon.PixelRepresentation = 16, 16, 15, 0
    icon.add_new(0x7FE00010, "OW", np.array([1, 258, 513, 65000], "<u2").tobytes())
    ds.IconImageSequence = [icon]
    ds.add_new(0x00640009, "OF", np.array([1.5, -2.25], "<f4").tobytes())  # Vector Grid Data
    little = write(ds, tmp_path / "little.dcm")
    big = tmp_path / "big.dcm"
    dcmtk("dcmconv", "+tb", str(little), str(big))

    converted = dcmread(big)
    assert converted.file_meta.TransferSyntaxUID == ExplicitVRBigEndian
    to_little_endian(converted)
    buffer = BytesIO()
    converted.save_as(buffer, enforce_file_format=True)
    with config.strict_reading():
        again = dcmread(BytesIO(buffer.getvalue()))
    assert again.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert np.array_equal(again.pixel_array, pixels)
    assert again.IconImageSequence[0].PixelData == icon.PixelData
    assert again.VectorGridData == ds.VectorGridData
    assert (again.PatientName, again.Rows, again.BitsAllocated) == ("DOE^JANE", 4, bits)


def test_only_big_endian_is_converted() -> None:
    with pytest.raises(ValueError, match="not Explicit VR Big Endian"):
        to_little_endian(make_instance())
