"""Synthetic DICOM instances for tests: several SOP classes and transfer syntaxes.

Pixel data are small generated patterns; compressed variants use pydicom's
encoders (RLE, JPEG 2000), Pillow (JPEG baseline, encapsulated unchanged) or
DCMTK's converters (JPEG lossless, JPEG-LS).
"""

from __future__ import annotations

import io
import subprocess
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    RLELossless,
)
from pynetdicom import sop_class

from imaging_common.uids import new_uid


def _pixels(rows: int, columns: int, samples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:columns]
    base = ((x + y + seed) % 256).astype(np.uint8)
    noise = rng.integers(0, 16, size=(rows, columns), dtype=np.uint8)
    plane = base ^ noise
    if samples == 1:
        return plane
    return np.stack([plane, np.roll(plane, 7, axis=1), np.roll(plane, 13, axis=0)], axis=-1)


def make_instance(
    *,
    sop_class_uid: str = sop_class.SecondaryCaptureImageStorage,
    modality: str = "OT",
    patient_id: str = "PAT001",
    patient_name: str = "DOE^JANE",
    birth_date: str = "19600101",
    study_uid: str | None = None,
    series_uid: str | None = None,
    sop_uid: str | None = None,
    accession: str = "ACC001",
    study_date: str = "20260101",
    study_time: str = "101500",
    study_description: str = "Screening",
    instance_number: int = 1,
    rows: int = 32,
    columns: int = 32,
    samples: int = 1,
    seed: int = 0,
    laterality: str = "",
) -> Dataset:
    """Return an uncompressed (Explicit VR Little Endian) image instance."""
    ds = Dataset()
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = sop_uid or new_uid()
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = birth_date
    ds.PatientSex = "F"
    ds.StudyInstanceUID = study_uid or new_uid()
    ds.StudyDate = study_date
    ds.StudyTime = study_time
    ds.AccessionNumber = accession
    ds.StudyID = "1"
    ds.StudyDescription = study_description
    ds.ReferringPhysicianName = "HOUSE^GREGORY"
    ds.SeriesInstanceUID = series_uid or new_uid()
    ds.SeriesNumber = 1
    ds.Modality = modality
    ds.InstanceNumber = instance_number
    ds.ContentDate = datetime.now().strftime("%Y%m%d")
    if laterality:
        ds.ImageLaterality = laterality
    pixels = _pixels(rows, columns, samples, seed)
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = "MONOCHROME2" if samples == 1 else "RGB"
    if samples == 3:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def as_implicit(ds: Dataset) -> Dataset:
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    return ds


def as_rle(ds: Dataset) -> Dataset:
    ds.compress(RLELossless)
    return ds


def as_jpeg2000(ds: Dataset) -> Dataset:
    ds.compress(JPEG2000Lossless)
    return ds


def as_jpeg_baseline(ds: Dataset) -> Dataset:
    """Replace the pixels with a Pillow JPEG, encapsulated as it is."""
    array = ds.pixel_array
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=90)
    ds.PixelData = encapsulate([buffer.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.PhotometricInterpretation = "YBR_FULL_422" if ds.SamplesPerPixel == 3 else "MONOCHROME2"
    ds.LossyImageCompression = "01"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    return ds


def dcmtk_convert(tool: str, source: Path, target: Path, *options: str) -> Path:
    """Run a DCMTK converter (dcmcjpeg, dcmcjpls, ...) on a file."""
    subprocess.run([tool, *options, str(source), str(target)], check=True,
                   capture_output=True)
    return target


def write(ds: Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
