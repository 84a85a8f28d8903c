"""What a technician gives becomes a fundus photograph, or a clear refusal.

Accepted: a JPEG (kept as it is when it is baseline JPEG, PS3.5 8.2.1), a
PNG or a TIFF (decoded and kept losslessly), or a DICOM file of a single 8-bit
photograph of this patient (Ophthalmic Photography, VL Photographic or
Secondary Capture), whose pixels are kept and whose identity is replaced by
the examination's. Refused, with a message a technician can act on: a file
that is no image, truncated, too large, of another patient, or of the other eye.
A simulated capture is a synthetic fundus picture made on the station (demo
mode only; :mod:`imaging_common.simulation` marks it in DICOM).

Before anything is sent, each picture's eye is checked against the image
(:func:`laterality_doubt_of`: the optic disc's side, :mod:`imaging_common.laterality`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import numpy as np
from PIL import Image, UnidentifiedImageError
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.uid import (
    JPEGBaseline8Bit,
    MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
    MultiFrameTrueColorSecondaryCaptureImageStorage,
    OphthalmicPhotography8BitImageStorage,
    SecondaryCaptureImageStorage,
    VLPhotographicImageStorage,
)

from imaging_common.builders import Laterality, OphthalmicImage, jpeg_frame_info
from imaging_common.encoding import check_complete
from imaging_common.exceptions import DicomInputError
from imaging_common.laterality import laterality_doubt
from modality_scu.exceptions import UploadError
from modality_scu.synthetic import synthetic_jpeg

__all__ = ["ACCEPTED_DICOM_CLASSES", "EYE_NAMES", "MAX_PIXELS", "SIMULATED_SOURCE", "Photograph",
           "default_seed", "laterality_doubt_of", "photograph_from_upload", "picture_rgb",
           "simulated_photograph"]

#: The largest picture accepted, in pixels (a 50-megapixel camera has room).
MAX_PIXELS = 64_000_000
#: DICOM photographs a technician may upload (PS3.4 B.5): single 8-bit images.
ACCEPTED_DICOM_CLASSES = frozenset({
    OphthalmicPhotography8BitImageStorage, VLPhotographicImageStorage,
    SecondaryCaptureImageStorage, MultiFrameTrueColorSecondaryCaptureImageStorage,
    MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
})
EYE_NAMES = {Laterality.RIGHT: "right eye (OD)", Laterality.LEFT: "left eye (OS)"}
#: How a simulated capture's source starts (the outbox keeps it per image).
SIMULATED_SOURCE = "simulated capture"
#: Lossy Image Compression Method (0028,2114) per lossy transfer syntax (PS3.3 C.7.6.1.1.5.1).
_LOSSY_METHODS = {
    "1.2.840.10008.1.2.4.50": "ISO_10918_1", "1.2.840.10008.1.2.4.51": "ISO_10918_1",
    "1.2.840.10008.1.2.4.81": "ISO_14495_1", "1.2.840.10008.1.2.4.91": "ISO_15444_1",
    "1.2.840.10008.1.2.4.203": "ISO_15444_15",
}
_MODES_KEPT = frozenset({"L", "RGB"})
_MODES_CONVERTED = {"1": "L", "P": "RGB", "PA": "RGB", "LA": "L", "RGBA": "RGB",
                    "RGBX": "RGB", "CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB"}


@dataclass(frozen=True)
class Photograph:
    """A picture ready for the builder, and where it came from (for the page).

    ``name`` is the uploaded file's name; ``simulation`` says what a simulated
    capture shows (``"ICDR severity 2, seed 1234"``), empty for a photograph;
    ``note`` goes into the image's Image Comments (a laterality the technician
    kept despite the station's doubt).
    """

    image: OphthalmicImage
    source: str
    name: str = ""
    simulation: str = ""
    note: str = ""

    @property
    def simulated(self) -> bool:
        return bool(self.simulation)


def _kind(data: bytes) -> str | None:
    if data[128:132] == b"DICM":
        return "DICOM"
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    return None


def photograph_from_upload(name: str, data: bytes, laterality: Laterality,
                           patient_id: str, limit: int, taken_at: datetime) -> Photograph:
    """Turn one uploaded file into a photograph of ``laterality``.

    Args:
        name: the file's name, only to say which file a message is about.
        data: its content.
        laterality: the eye it was given for.
        patient_id: the examination's Patient ID, which a DICOM file must carry.
        limit: the largest size accepted, in bytes.
        taken_at: when it was taken (local time), unless a DICOM file says.

    Raises:
        UploadError: the file cannot be this eye's photograph.
    """
    photograph = _photograph(name, data, laterality, patient_id, limit, taken_at)
    return dataclasses.replace(photograph, name=name)


def _photograph(name: str, data: bytes, laterality: Laterality, patient_id: str, limit: int,
                taken_at: datetime) -> Photograph:
    label = f"“{name or 'unnamed file'}”"
    if len(data) > limit:
        raise UploadError(f"{label} is larger than the {limit / 1048576:g} MB limit.",
                          "too_large")
    if not data:
        raise UploadError(f"{label} is empty.", "not_an_image")
    kind = _kind(data)
    if kind is None:
        raise UploadError(f"{label} is not an image: give a JPEG, PNG or TIFF photograph "
                          f"or a DICOM file.", "not_an_image")
    if kind == "DICOM":
        return _from_dicom(label, data, laterality, patient_id)
    picture = _decoded(label, kind, data)
    if kind == "JPEG":
        return _from_jpeg(label, data, picture, laterality, taken_at)
    return Photograph(OphthalmicImage(laterality, pixels=_pixels(label, picture),
                                      acquired_at=taken_at), f"{kind} upload")


def _decoded(label: str, kind: str, data: bytes) -> Image.Image:
    """Decode the whole picture, which is how a truncated file shows."""
    try:
        picture = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UploadError(f"{label} is not a readable {kind} image.", "not_an_image") from exc
    except Image.DecompressionBombError as exc:
        raise UploadError(f"{label} has too many pixels.", "too_large") from exc
    width, height = picture.size
    if width * height > MAX_PIXELS:
        raise UploadError(f"{label} has {width} x {height} pixels, more than the "
                          f"{MAX_PIXELS // 1_000_000} megapixels accepted.", "too_large")
    if getattr(picture, "n_frames", 1) > 1:
        raise UploadError(f"{label} holds several pictures; give one photograph per file.",
                          "unsupported")
    try:
        picture.load()
    except (OSError, ValueError, SyntaxError) as exc:
        raise UploadError(f"{label} is truncated or damaged: it cannot be decoded.",
                          "truncated") from exc
    return picture


def _pixels(label: str, picture: Image.Image) -> np.ndarray:
    """8-bit grey or RGB pixels, without loss for the modes a camera writes."""
    mode = picture.mode
    if mode not in _MODES_KEPT:
        if mode not in _MODES_CONVERTED:
            raise UploadError(f"{label} has {mode} pixels; give an 8-bit grey or colour image.",
                              "unsupported")
        picture = picture.convert(_MODES_CONVERTED[mode])
    return np.ascontiguousarray(np.asarray(picture, dtype=np.uint8))


def _from_jpeg(label: str, data: bytes, picture: Image.Image, laterality: Laterality,
               taken_at: datetime) -> Photograph:
    try:
        jpeg_frame_info(data)
    except DicomInputError:
        # A progressive or CMYK JPEG cannot be encapsulated as JPEG Baseline:
        # keep its decoded pixels losslessly, marked as lossy-compressed once.
        pixels = _pixels(label, picture)
        return Photograph(OphthalmicImage(
            laterality, pixels=pixels, acquired_at=taken_at,
            lossy_compression_method="ISO_10918_1",
            lossy_compression_ratio=pixels.size / len(data)), "JPEG upload (decoded)")
    return Photograph(OphthalmicImage(laterality, jpeg=data, acquired_at=taken_at),
                      "JPEG upload")


def _read_dicom(label: str, data: bytes) -> Dataset:
    try:
        ds = dcmread(io.BytesIO(data))
        syntax = ds.file_meta.TransferSyntaxUID
        check_complete(data, implicit=syntax.is_implicit_VR, deflated=syntax.is_deflated)
    except DicomInputError as exc:
        raise UploadError(f"{label} is a truncated or damaged DICOM file.", "truncated") from exc
    except (InvalidDicomError, AttributeError, ValueError, EOFError, OSError, KeyError) as exc:
        raise UploadError(f"{label} is not a readable DICOM file.", "not_an_image") from exc
    return ds


def _check_dicom(label: str, ds: Dataset, laterality: Laterality, patient_id: str) -> None:
    if str(ds.get("SOPClassUID", "")) not in ACCEPTED_DICOM_CLASSES or "PixelData" not in ds:
        raise UploadError(f"{label} is not a DICOM photograph the station can send "
                          f"(Ophthalmic Photography, VL Photographic or Secondary Capture "
                          f"image expected).", "unsupported")
    if str(ds.get("PatientID", "")).strip() != patient_id.strip():
        raise UploadError(f"DICOM of another patient: {label} does not carry this "
                          f"examination's Patient ID; it was not used.", "another_patient")
    side = str(ds.get("ImageLaterality") or ds.get("Laterality") or "").strip()
    if side in ("R", "L") and side != laterality.value:
        raise UploadError(f"{label} is a photograph of the {EYE_NAMES[Laterality(side)]}, "
                          f"but was given for the {EYE_NAMES[laterality]}.", "wrong_eye")
    if int(ds.get("NumberOfFrames") or 1) != 1:
        raise UploadError(f"{label} holds several frames; give one photograph per file.",
                          "unsupported")
    if ds.get("BitsAllocated") != 8 or ds.get("SamplesPerPixel") not in (1, 3) or str(
            ds.get("PhotometricInterpretation", "")) in ("PALETTE COLOR", "MONOCHROME1"):
        raise UploadError(f"{label} is not an 8-bit grey or colour photograph.", "unsupported")


def _acquired_at(ds: Dataset) -> datetime:
    """When the source says it was taken: Acquisition DateTime, else Content Date and Time."""
    stamp = str(ds.get("AcquisitionDateTime") or "")
    if not stamp and ds.get("ContentDate"):
        stamp = f"{ds.ContentDate}{ds.get('ContentTime') or ''}"
    digits = re.match(r"\d*", stamp.strip())
    text = digits.group(0) if digits else ""
    for length, pattern in ((14, "%Y%m%d%H%M%S"), (12, "%Y%m%d%H%M"), (8, "%Y%m%d")):
        if len(text) >= length:
            try:
                return datetime.strptime(text[:length], pattern)
            except ValueError:
                continue
    return datetime.now()


def _from_dicom(label: str, data: bytes, laterality: Laterality, patient_id: str) -> Photograph:
    ds = _read_dicom(label, data)
    _check_dicom(label, ds, laterality, patient_id)
    syntax = str(ds.file_meta.TransferSyntaxUID)
    acquired_at = _acquired_at(ds)
    field_of_view = float(ds.HorizontalFieldOfView) if ds.get("HorizontalFieldOfView") else None
    if syntax == JPEGBaseline8Bit:
        frame = next(generate_frames(ds.PixelData, number_of_frames=1))
        return Photograph(OphthalmicImage(laterality, jpeg=frame, acquired_at=acquired_at,
                                          horizontal_field_of_view=field_of_view),
                          "DICOM upload (JPEG kept)")
    try:
        pixels = np.ascontiguousarray(ds.pixel_array, dtype=np.uint8)
    except Exception as exc:  # pydicom's decoders raise many kinds for bad data
        raise UploadError(f"{label}: its pixel data cannot be decoded.", "truncated") from exc
    method, ratio = _lossy_history(ds, syntax, pixels)
    image = OphthalmicImage(laterality, pixels=pixels, acquired_at=acquired_at,
                            horizontal_field_of_view=field_of_view,
                            lossy_compression_method=method, lossy_compression_ratio=ratio)
    return Photograph(image, "DICOM upload")


def _lossy_history(ds: Dataset, syntax: str, pixels: np.ndarray) -> tuple[str, float | None]:
    """The lossy compression the source went through, if any: its method and ratio."""
    if str(ds.get("LossyImageCompression", "")) != "01" and syntax not in _LOSSY_METHODS:
        return "", None
    methods = ds.get("LossyImageCompressionMethod")
    ratios = ds.get("LossyImageCompressionRatio")
    method = _first(methods) or _LOSSY_METHODS.get(syntax, "ISO_10918_1")
    ratio = float(_first(ratios) or 0) or None
    if ratio is None and syntax in _LOSSY_METHODS:
        compressed = sum(len(f) for f in generate_frames(ds.PixelData, number_of_frames=1))
        ratio = pixels.size / max(1, compressed)
    if ratio is None:
        raise UploadError("The DICOM file says its pixels were lossy-compressed but not by "
                          "how much; it cannot be sent as an Ophthalmic Photograph.",
                          "unsupported")
    return method, ratio


def _first(value: object) -> str:
    """The first value of a possibly multi-valued attribute, as text."""
    if isinstance(value, MultiValue | list):
        return str(value[0]) if value else ""
    return "" if value is None else str(value)


def default_seed(accession_number: str) -> int:
    """The simulated capture's seed for an examination: the same accession, the
    same picture (a re-run reproduces it)."""
    digest = hashlib.sha256(accession_number.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % 1_000_000


def simulated_photograph(laterality: Laterality, grade: int, seed: int,
                         taken_at: datetime) -> Photograph:
    """A synthetic fundus picture of ``grade`` (0-4, ICDR) for a demonstration.

    Raises:
        UploadError: the grade is out of range.
    """
    if not 0 <= grade <= 4:
        raise UploadError("The simulated severity must be 0 to 4.", "unsupported")
    jpeg = synthetic_jpeg(seed=seed, grade=grade, laterality=laterality.value)
    return Photograph(OphthalmicImage(laterality, jpeg=jpeg, acquired_at=taken_at),
                      f"{SIMULATED_SOURCE} (severity {grade}, seed {seed})",
                      simulation=f"ICDR severity {grade}, seed {seed}")


def picture_rgb(photograph: Photograph, most: int = 1024) -> np.ndarray:
    """The photograph's pixels as 8-bit RGB (or grey), a JPEG decoded at a reduced
    scale when it is larger than ``most`` pixels a side (enough for a check)."""
    image = photograph.image
    if image.pixels is not None:
        return image.pixels
    picture = Image.open(io.BytesIO(cast(bytes, image.jpeg)))
    picture.draft("RGB", (most, most))
    return np.asarray(picture.convert("RGB"))


def laterality_doubt_of(photograph: Photograph) -> str | None:
    """Why the photograph looks like the other eye than the one it was given for,
    or ``None`` (:func:`imaging_common.laterality.laterality_doubt`, at its default
    confidence)."""
    return laterality_doubt(photograph.image.laterality.value, picture_rgb(photograph))
