"""The structural check that catches truncated datasets pydicom would accept."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest
from pydicom import config, dcmread
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from imaging_common.encoding import check_complete, dataset_offset, part10
from imaging_common.exceptions import DicomInputError
from imaging_common.uids import IMPLEMENTATION_CLASS_UID
from tests.factory import as_implicit, as_jpeg_baseline, as_rle, make_instance, write


@pytest.mark.parametrize("variant", ["explicit", "implicit", "rle", "jpeg"])
def test_every_cut_inside_an_element_is_caught(tmp_path: Path, variant: str) -> None:
    ds = make_instance(samples=3 if variant == "jpeg" else 1)
    ds.RequestAttributesSequence = [Dataset()]
    ds.RequestAttributesSequence[0].RequestedProcedureID = "RP1"
    ds = {"explicit": lambda d: d, "implicit": as_implicit, "rle": as_rle,
          "jpeg": as_jpeg_baseline}[variant](ds)
    data = write(ds, tmp_path / "x.dcm").read_bytes()
    implicit = variant == "implicit"
    assert check_complete(data, implicit) is True
    for cut in range(300, len(data)):
        try:
            has_pixels = check_complete(data[:cut], implicit)
        except DicomInputError:
            continue
        # A cut between two elements is well formed; it then lacks the pixels.
        assert has_pixels is False, cut


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
