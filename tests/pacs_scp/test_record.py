"""The index record read from raw bytes equals what pydicom's own JSON gives."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from imaging_common.builders import (
    Equipment,
    Laterality,
    OphthalmicImage,
    Patient,
    Request,
    build_ophthalmic_photograph,
)
from imaging_common.dicom_json import encoding_of
from imaging_common.levels import level_of_tag
from imaging_common.uids import new_uid
from pacs_scp.record import BULK_VRS, record_from_dataset
from tests.character_sets import EXAMPLES, with_name
from tests.factory import as_implicit, make_instance, write


def _odd_values(ds: Dataset) -> Dataset:
    """Multi-valued, empty, numeric, person-name and nested attributes."""
    ds.ImageType = ["DERIVED", "SECONDARY", "", "OTHER"]
    ds.PatientName = "Yamada^Tarou=山田^太郎=やまだ^たろう"
    ds.OtherPatientNames = ["Doe^J", "Roe^R"]
    ds.PixelSpacing = ["0.5", "0.25"]
    ds.SliceThickness = "1.25"
    ds.WindowCenter = ["40", "-600"]
    ds.ReferencedFrameNumber = ["1", "2", "3"]
    ds.FrameIncrementPointer = [0x00181063, 0x00181065]
    ds.RecommendedDisplayFrameRate = 25
    ds.ExposureIndex = 1.5
    ds.ImagerPixelSpacing = [0.1, 0.1]
    ds.StudyComments = "first line\r\nsecond line  "
    ds.AdmittingDiagnosesDescription = ""
    ds.OperatorsName = ""
    ds.StationName = "  CAM 1  "
    ds.RetrieveURL = "https://example.org/studies/1 "
    inner = Dataset()
    inner.CodeValue = "81745001"
    inner.CodingSchemeDesignator = "SCT"
    inner.CodeMeaning = "Eye"
    nested = Dataset()
    nested.ReferencedSOPInstanceUID = new_uid()
    nested.PurposeOfReferenceCodeSequence = Sequence([inner])
    ds.ReferencedImageSequence = Sequence([nested, Dataset()])
    ds.ProcedureCodeSequence = Sequence()
    ds.SpecificCharacterSet = "ISO_IR 192"
    return ds


def _photograph() -> Dataset:
    return build_ophthalmic_photograph(
        OphthalmicImage(Laterality.LEFT, pixels=np.zeros((8, 8), np.uint8)),
        Patient("MRN9", "Müller^Jürgen", date(1950, 2, 3), "M"),
        Request(new_uid(), "ACC9", "RP9", "SPS9", "Screening"),
        Equipment(station_name="CAM"), new_uid())


DATASETS = {
    "factory": lambda: make_instance(),
    "implicit": lambda: as_implicit(make_instance()),
    "odd values": lambda: _odd_values(make_instance()),
    "odd values implicit": lambda: as_implicit(_odd_values(make_instance())),
    "latin-1": lambda: _latin1(make_instance()),
    "photograph": _photograph,
    **{f"name in {name}": (lambda e=example: with_name(make_instance(), e))
       for name, example in EXAMPLES.items()},
    "name in japanese implicit": lambda: as_implicit(
        with_name(make_instance(), EXAMPLES["japanese kanji"])),
}


def _latin1(ds: Dataset) -> Dataset:
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = "Müller^Renée"
    ds.StudyDescription = "Fond d'œil".replace("œ", "oe")
    return ds


def _expected(ds: Dataset) -> dict[str, dict[str, object]]:
    """pydicom's DICOM JSON of every non-bulk, non-private top-level attribute."""
    expected: dict[str, dict[str, object]] = {}
    for element in ds:
        if (element.tag.is_private or element.tag.group in (0x0002, 0x7FE0)
                or element.VR in BULK_VRS or element.keyword == "SpecificCharacterSet"):
            continue
        expected[f"{element.tag:08X}"] = element.to_json_dict(
            bulk_data_element_handler=lambda e: "", bulk_data_threshold=1024)
    return expected


@pytest.mark.parametrize("name", list(DATASETS))
def test_record_json_equals_pydicom(name: str, tmp_path: Path) -> None:
    path = write(DATASETS[name](), tmp_path / "x.dcm")
    header = dcmread(io.BytesIO(path.read_bytes()), stop_before_pixels=True)
    record = record_from_dataset(header)
    found = {tag: element for level in record.attributes.values()
             for tag, element in level.items()}
    expected = _expected(dcmread(path, stop_before_pixels=True))
    assert found == expected
    for tag in found:
        assert tag in record.attributes[level_of_tag(int(tag, 16))]


@pytest.mark.parametrize(("value", "codec"), [
    (None, "latin_1"), ("", "latin_1"), ("ISO_IR 100", "latin_1"), ("ISO_IR 192", "utf_8"),
    ("ISO_IR 126", "iso_ir_126"), ("GB18030", "GB18030"), (["ISO_IR 144"], "iso_ir_144"),
    # Code extensions and unknown terms are pydicom's to read.
    (["", "ISO 2022 IR 87"], None), (["ISO 2022 IR 13", "ISO 2022 IR 87"], None),
    ("ISO 2022 IR 100", None), ("ISO_IR 999", None),
])
def test_encoding_of_reads_only_stateless_character_sets(value: object, codec: str | None) -> None:
    assert encoding_of(value) == codec  # type: ignore[arg-type]


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_record_names_are_decoded(name: str, tmp_path: Path) -> None:
    """Names of every character set, code extensions included, are indexed as they read."""
    path = write(with_name(make_instance(), EXAMPLES[name]), tmp_path / "x.dcm")
    record = record_from_dataset(dcmread(path, stop_before_pixels=True))
    assert record.values["PatientName"] == EXAMPLES[name].name


def test_record_values_are_the_text_of_the_attributes(tmp_path: Path) -> None:
    path = write(_odd_values(make_instance(patient_id="P-1")), tmp_path / "x.dcm")
    record = record_from_dataset(dcmread(path, stop_before_pixels=True))
    assert record.values["PatientName"] == "Yamada^Tarou=山田^太郎=やまだ^たろう"
    assert record.values["PatientID"] == "P-1"
    assert record.values["InstanceNumber"] == "1"
    assert record.values["StudyDate"] == "20260101"
