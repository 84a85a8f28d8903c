"""Ophthalmic Photography 8 Bit Image (PS3.3 A.39.1): a fundus photograph.

A JPEG from a fundus camera is encapsulated as it is, in the JPEG Baseline
transfer syntax, without recompression; its Photometric Interpretation is the
colour space of the JPEG stream (PS3.5 8.2.1). Any other picture (a decoded
PNG or TIFF, an array) is stored losslessly in Explicit VR Little Endian.

The modules written, beyond Patient, Study, Series and Equipment: Synchronization
(C.7.4.2, required by the IOD), General Image, Image Pixel, Enhanced General
Equipment, Multi-frame (one frame), Ophthalmic Photography Series, Image,
Acquisition Parameters and Photographic Parameters (C.8.17.1-4), Ocular Region
Imaged (C.8.17.5) and SOP Common.
"""

from __future__ import annotations

import enum
import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    OphthalmicPhotography8BitImageStorage,
)

from imaging_common.builders.identity import Equipment, Patient, Request
from imaging_common.codes import (
    ANATOMIC_REGION_EYE,
    FUNDUS_CAMERA,
    UTC_SYNCHRONIZATION_FRAME,
)
from imaging_common.exceptions import DicomInputError
from imaging_common.uids import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    new_uid,
)

__all__ = ["JpegFrame", "Laterality", "OphthalmicImage", "build_ophthalmic_photograph",
           "jpeg_frame_info"]


class Laterality(str, enum.Enum):
    """Image Laterality (0020,0062) of an eye photograph."""

    RIGHT = "R"
    LEFT = "L"


@dataclass(frozen=True)
class JpegFrame:
    """What a JPEG stream's header says about its frame."""

    rows: int
    columns: int
    samples_per_pixel: int
    photometric_interpretation: str


#: Photometric interpretations of a JPEG stream that the OP 8 Bit IOD accepts.
_JPEG_PHOTOMETRICS_OP_ALLOWS = frozenset({"MONOCHROME2", "RGB", "YBR_FULL_422"})


def jpeg_frame_info(data: bytes) -> JpegFrame:
    """Read a baseline JPEG's frame header without decoding the image.

    The photometric interpretation follows PS3.5 8.2.1: a three-component
    stream is YBR_FULL_422 when its chroma is subsampled, YBR_FULL when not,
    and RGB when an Adobe marker says no colour transform was applied.

    Raises:
        DicomInputError: not a JPEG, or not a baseline 8-bit JPEG.
    """
    try:
        image = Image.open(io.BytesIO(data))
        image.verify()
        image = Image.open(io.BytesIO(data))
    except Exception as error:  # Pillow raises many kinds for bad input
        raise DicomInputError(f"not a readable image: {error}") from error
    if image.format != "JPEG":
        raise DicomInputError(f"not a JPEG stream but {image.format}")
    if image.info.get("progressive") or image.info.get("progression"):
        raise DicomInputError("a progressive JPEG is not JPEG Baseline")
    if image.mode == "L":
        return JpegFrame(image.height, image.width, 1, "MONOCHROME2")
    if image.mode != "RGB":
        raise DicomInputError(f"JPEG colour mode {image.mode} is not supported")
    if image.info.get("adobe_transform") == 0:
        photometric = "RGB"
    else:
        layers = getattr(image, "layer", [])
        subsampled = any(h != layers[0][1] or v != layers[0][2] for _, h, v, _ in layers[1:])
        photometric = "YBR_FULL_422" if subsampled else "YBR_FULL"
    return JpegFrame(image.height, image.width, 3, photometric)


@dataclass(frozen=True)
class OphthalmicImage:
    """One fundus photograph and how it was taken.

    Args:
        laterality: which eye.
        jpeg: a baseline JPEG stream, stored as it is; or
        pixels: an 8-bit array, rows x columns (x 3 for colour), stored losslessly.
        acquired_at: when the photograph was taken (local time).
        horizontal_field_of_view: the camera's field of view in degrees, if known.
        pupil_dilated: whether a mydriatic was used; None when not recorded.
        lossy_compression_method: for ``pixels`` decoded from a lossy stream (a
            progressive JPEG, a lossy DICOM file), the method it was compressed
            with, e.g. ``"ISO_10918_1"`` (PS3.3 C.7.6.1.1.5); the image is then
            marked as lossy-compressed once. Empty for original pixels.
        lossy_compression_ratio: that compression's ratio, required with the
            method (the OP Image module makes it Type 1C, PS3.3 C.8.17.2).
    """

    laterality: Laterality
    jpeg: bytes | None = None
    pixels: np.ndarray | None = field(default=None, compare=False)
    acquired_at: datetime = field(default_factory=datetime.now)
    horizontal_field_of_view: float | None = None
    pupil_dilated: bool | None = None
    lossy_compression_method: str = ""
    lossy_compression_ratio: float | None = None

    def __post_init__(self) -> None:
        if (self.jpeg is None) == (self.pixels is None):
            raise DicomInputError("give either a JPEG stream or a pixel array")
        self._check_lossy_history()
        if self.pixels is not None:
            if self.pixels.dtype != np.uint8:
                raise DicomInputError("pixels must be 8-bit (uint8)")
            if self.pixels.ndim not in (2, 3) or (
                self.pixels.ndim == 3 and self.pixels.shape[2] != 3
            ):
                raise DicomInputError("pixels must be rows x columns (x 3)")

    def _check_lossy_history(self) -> None:
        method, ratio = self.lossy_compression_method, self.lossy_compression_ratio
        if not method and ratio is None:
            return
        if self.jpeg is not None:
            raise DicomInputError("a JPEG stream carries its own compression history")
        if not method or ratio is None or ratio <= 0:
            raise DicomInputError("a lossy compression needs both its method and its ratio")
        if len(method) > 16 or "\\" in method:
            raise DicomInputError("LossyImageCompressionMethod is not a valid code string")


def build_ophthalmic_photograph(
    image: OphthalmicImage,
    patient: Patient,
    request: Request,
    equipment: Equipment,
    series_instance_uid: str,
    series_number: int = 1,
    instance_number: int = 1,
    sop_instance_uid: str | None = None,
) -> Dataset:
    """Build an Ophthalmic Photography 8 Bit Image of one eye.

    Raises:
        DicomInputError: the JPEG stream or the pixel array cannot be used.
    """
    ds = Dataset()
    patient.apply(ds)
    request.apply(ds)
    equipment.apply(ds)
    _series(ds, series_instance_uid, series_number, image)
    _synchronization(ds)
    _image(ds, image, instance_number)
    transfer_syntax = _pixel_data(ds, image)
    _acquisition(ds, image)
    ds.SOPClassUID = OphthalmicPhotography8BitImageStorage
    ds.SOPInstanceUID = sop_instance_uid or new_uid()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.file_meta = _file_meta(ds, transfer_syntax)
    return ds


def _series(ds: Dataset, series_uid: str, number: int, image: OphthalmicImage) -> None:
    stamp = image.acquired_at
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = stamp.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = stamp.strftime("%H%M%S")
    ds.AcquisitionDateTime = stamp.strftime("%Y%m%d%H%M%S.%f")
    ds.Modality = "OP"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = number


def _synchronization(ds: Dataset) -> None:
    """PS3.3 C.7.4.2: the photograph's clock is not synchronised to anything."""
    ds.SynchronizationFrameOfReferenceUID = UTC_SYNCHRONIZATION_FRAME
    ds.SynchronizationTrigger = "NO TRIGGER"
    ds.AcquisitionTimeSynchronized = "N"


def _image(ds: Dataset, image: OphthalmicImage, instance_number: int) -> None:
    ds.InstanceNumber = instance_number
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.ImageLaterality = image.laterality.value
    ds.PatientOrientation = ""
    ds.BurnedInAnnotation = "NO"
    ds.AnatomicRegionSequence = Sequence([ANATOMIC_REGION_EYE.to_item()])
    # Multi-frame (PS3.3 C.7.6.6) and Cine (C.7.6.5) modules, even for one frame.
    ds.NumberOfFrames = 1
    ds.FrameIncrementPointer = Tag("FrameTime")
    ds.FrameTime = 0


def _pixel_data(ds: Dataset, image: OphthalmicImage) -> UID:
    """Image Pixel module and lossy-compression history; return the transfer syntax.

    The OP 8 Bit IOD allows YBR_FULL_422 but not YBR_FULL (PS3.3 C.8.17.2), so
    a JPEG without chroma subsampling is decoded and kept losslessly as RGB,
    still flagged as lossy-compressed once.
    """
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.LossyImageCompression = "00"
    if image.lossy_compression_method:
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionMethod = image.lossy_compression_method
        ds.LossyImageCompressionRatio = f"{image.lossy_compression_ratio:.2f}"
    pixels = image.pixels
    if image.jpeg is not None:
        frame = jpeg_frame_info(image.jpeg)
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionMethod = "ISO_10918_1"
        raw_size = frame.rows * frame.columns * frame.samples_per_pixel
        ds.LossyImageCompressionRatio = f"{raw_size / len(image.jpeg):.2f}"
        if frame.photometric_interpretation in _JPEG_PHOTOMETRICS_OP_ALLOWS:
            ds.Rows, ds.Columns = frame.rows, frame.columns
            ds.SamplesPerPixel = frame.samples_per_pixel
            ds.PhotometricInterpretation = frame.photometric_interpretation
            ds.PixelData = encapsulate([image.jpeg])
            ds["PixelData"].VR = "OB"
            _colour_and_lut(ds)
            return JPEGBaseline8Bit
        pixels = np.asarray(Image.open(io.BytesIO(image.jpeg)).convert("RGB"))
    pixels = cast(np.ndarray, pixels)
    ds.Rows, ds.Columns = pixels.shape[:2]
    ds.SamplesPerPixel = 1 if pixels.ndim == 2 else 3
    ds.PhotometricInterpretation = "MONOCHROME2" if pixels.ndim == 2 else "RGB"
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    ds["PixelData"].VR = "OB"
    _colour_and_lut(ds)
    return ExplicitVRLittleEndian


def _colour_and_lut(ds: Dataset) -> None:
    if ds.SamplesPerPixel == 3:
        ds.PlanarConfiguration = 0
    else:
        ds.PresentationLUTShape = "IDENTITY"  # PS3.3 C.8.17.2: monochrome only


def _acquisition(ds: Dataset, image: OphthalmicImage) -> None:
    """OP Acquisition and Photographic Parameters (PS3.3 C.8.17.3, C.8.17.4)."""
    ds.PatientEyeMovementCommanded = "NO"
    ds.RefractiveStateSequence = Sequence()
    ds.EmmetropicMagnification = None
    ds.IntraOcularPressure = None
    ds.HorizontalFieldOfView = image.horizontal_field_of_view
    ds.PupilDilated = (
        "" if image.pupil_dilated is None else ("YES" if image.pupil_dilated else "NO")
    )
    ds.AcquisitionDeviceTypeCodeSequence = Sequence([FUNDUS_CAMERA.to_item()])
    ds.IlluminationTypeCodeSequence = Sequence()
    ds.LightPathFilterTypeStackCodeSequence = Sequence()
    ds.ImagePathFilterTypeStackCodeSequence = Sequence()
    ds.LensesCodeSequence = Sequence()
    ds.DetectorType = "CMOS"


def _file_meta(ds: Dataset, transfer_syntax: UID) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = transfer_syntax
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    return meta
