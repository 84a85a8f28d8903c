"""A simulated capture in DICOM: how the station marks one, and how to recognise one.

The fundus station's "simulated capture" (demo mode only) draws a synthetic
fundus picture; it is no photograph of the patient, and everything that
reads it (viewers, the AI node, the EMR's report) must be able to tell.
:func:`mark_simulated` sets, on an Ophthalmic Photography image built by
:func:`imaging_common.builders.build_ophthalmic_photograph`:

- Image Type ``DERIVED\\PRIMARY\\SIMULATED``. PS3.3 C.8.17.2 allows only
  PRIMARY as Value 2 and needs a Value 3 for a DERIVED image; SIMULATED is a
  term of Fovea's own (Value 3 is a Defined Term, so it may be extended;
  dciodvfy names it "unrecognized", a warning, not an error);
- Series Description :data:`SIMULATED_SERIES_DESCRIPTION`: simulated
  pictures go in a series of their own, never beside real photographs;
- Image Comments starting :data:`SIMULATED_COMMENT_PREFIX`, with the
  simulated severity and seed;
- Derivation Description, Derivation Code Sequence (113040 Lossy
  Compression) and a Source Image Sequence whose one item, required for a
  DERIVED photograph (Type 2C, and dciodvfy wants an item), is the
  uncompressed rendering the JPEG was made from (121320 Uncompressed
  predecessor). That rendering is never stored: its UID is derived from the
  image's own and names it only;
- Manufacturer's Model Name :data:`SIMULATED_MODEL_NAME` (General Equipment
  is a series-level module: the simulated series has its own);
- Burned In Annotation ``NO``: no text is drawn into the pixels, and PS3.3
  C.7.6.1.1.8 asks only whether they identify the patient or the date.

:func:`is_simulated` is how a reader tells: ``SIMULATED`` in Image Comments
or as Image Type Value 3, or ``Simulated`` in the Series Description.
"""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from imaging_common.codes import LOSSY_COMPRESSION, UNCOMPRESSED_PREDECESSOR
from imaging_common.exceptions import DicomInputError
from imaging_common.uids import derived_uid

__all__ = [
    "SIMULATED_COMMENT_PREFIX",
    "SIMULATED_IMAGE_TYPE",
    "SIMULATED_MODEL_NAME",
    "SIMULATED_SERIES_DESCRIPTION",
    "is_simulated",
    "mark_simulated",
]

SIMULATED_IMAGE_TYPE = ("DERIVED", "PRIMARY", "SIMULATED")
SIMULATED_SERIES_DESCRIPTION = "Simulated capture (synthetic, not a photograph)"
SIMULATED_COMMENT_PREFIX = "SIMULATED"
SIMULATED_MODEL_NAME = "Fovea simulated capture"


def mark_simulated(ds: Dataset, description: str) -> Dataset:
    """Mark an Ophthalmic Photography image ``ds`` as a simulated capture, in place.

    Args:
        ds: the image, built with its pixels; its SOP Instance UID is set.
        description: what was simulated, for a person, e.g.
            ``"ICDR severity 2, seed 1234"``.

    Raises:
        DicomInputError: ``ds`` has no SOP Instance UID or SOP Class UID yet.
    """
    if "SOPInstanceUID" not in ds or "SOPClassUID" not in ds:
        raise DicomInputError("mark a simulated capture once its SOP Instance UID is set")
    ds.ImageType = list(SIMULATED_IMAGE_TYPE)
    ds.SeriesDescription = SIMULATED_SERIES_DESCRIPTION
    ds.ManufacturerModelName = SIMULATED_MODEL_NAME
    ds.BurnedInAnnotation = "NO"
    ds.ImageComments = (f"{SIMULATED_COMMENT_PREFIX}: a synthetic fundus picture drawn by the "
                        f"Fovea station for a demonstration ({description}); it is not a "
                        "photograph of this patient's eye.")
    ds.DerivationDescription = (f"Simulated capture: a synthetic fundus drawn from a "
                                f"procedural model ({description}), then JPEG-compressed.")[:1024]
    ds.DerivationCodeSequence = Sequence([LOSSY_COMPRESSION.to_item()])
    rendering = Dataset()
    rendering.ReferencedSOPClassUID = ds.SOPClassUID
    rendering.ReferencedSOPInstanceUID = derived_uid(str(ds.SOPInstanceUID), "rendering")
    rendering.PurposeOfReferenceCodeSequence = Sequence([UNCOMPRESSED_PREDECESSOR.to_item()])
    ds.SourceImageSequence = Sequence([rendering])
    return ds


def is_simulated(ds: Dataset) -> bool:
    """Whether an image is a simulated capture (any of the markers of :func:`mark_simulated`)."""
    comments = str(ds.get("ImageComments", "") or "")
    image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
    series = str(ds.get("SeriesDescription", "") or "")
    return (SIMULATED_COMMENT_PREFIX in comments.upper()
            or (len(image_type) > 2 and image_type[2] == "SIMULATED")
            or "simulated" in series.lower())
