"""The heat map capture: a Secondary Capture Image of one graded photograph.

The picture is the photograph with the model's heat map already blended over
it; this module burns the result into its lower edge ("SIMULATED image" first
when the photograph is a simulated capture, the grade in words, the model's
confidence, the node's referral decision with its probability and threshold,
macular oedema or "not assessed", whether another photograph of the eye
decides it, a laterality doubt, the model and "NOT FOR CLINICAL USE"), so that
any viewer shows what the SR says, and wraps it as a Secondary Capture Image
(PS3.3 A.8.1). There is one capture per photograph graded:

- Conversion Type WSD (workstation), Burned In Annotation YES, Image
  Laterality of the eye, Image Comments with the burned-in lines as text and
  the research-use-only notice;
- Source Image Sequence referencing the photograph, with the purpose "Source
  image for image processing operation" (CID 7202), and a Derivation
  Description; the photograph's lossy-compression history is kept (PS3.3
  C.7.6.1.1.5);
- patient and study copied from the photograph, the Request Attributes
  Sequence too (PS3.17 J.2.2), so the capture belongs to the same order;
- the model in the General Equipment module and the Contributing Equipment
  Sequence (Processing Equipment, with its Device UID).

All the captures of one model version in a study (every photograph of both
eyes) share one series (default number 901), beside the report's: a series
holds one modality, and the report's is SR. Each capture therefore carries
Image Laterality rather than the series' Laterality.
"""

from __future__ import annotations

import copy

import highdicom as hd
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from imaging_common.builders.ai_findings import (
    GRADE_WORDS,
    RESEARCH_ONLY_NOTICE,
    SIMULATED_IMAGE_NOTICE,
    AlgorithmIdentity,
    EyeFinding,
    ResultKind,
    capture_instance_uid,
    contributing_equipment,
    plain_dataset,
    result_series_uid,
)
from imaging_common.codes import ANATOMIC_REGION_EYE, SOURCE_IMAGE_FOR_PROCESSING
from imaging_common.exceptions import DicomInputError

__all__ = ["SIMULATED_LINE", "build_heatmap_capture", "burn_in_result", "caption_lines"]

#: Series Description of the capture series (LO, at most 64 characters).
CAPTURE_SERIES_DESCRIPTION = "AI DR heat maps - research use only"
#: The last line burned in. ASCII only: Pillow's bundled font has no dashes.
NOT_FOR_CLINICAL_USE = "NOT FOR CLINICAL USE - research only"
#: The first line of the capture of a simulated capture: burned in, and so the
#: start of its Image Comments.
SIMULATED_LINE = f"SIMULATED image: {SIMULATED_IMAGE_NOTICE}"
#: The smallest picture, in pixels a side, that the caption can be read on.
MIN_SIDE = 64
#: The longest line of free text burned in (a laterality doubt is cut there).
CAPTION_MAX = 80

_EYES = {"R": "Right eye", "L": "Left eye"}
_FontType = ImageFont.FreeTypeFont | ImageFont.ImageFont


def build_heatmap_capture(finding: EyeFinding, overlay_rgb: np.ndarray,
                          algorithm: AlgorithmIdentity, *, series_number: int = 901,
                          instance_number: int = 1) -> Dataset:
    """Build the Secondary Capture of one photograph's heat map, result burned in.

    Args:
        finding: the photograph's finding; its photograph gives patient, study
            and the source reference.
        overlay_rgb: the photograph with the heat map blended over it, ``uint8``
            rows x columns x 3 (RGB); an ungradable photograph comes as it is.
        algorithm: the model version that graded it.
        series_number: Series Number of the capture series.
        instance_number: Instance Number of this capture in its series.

    Raises:
        DicomInputError: the picture is not 8-bit RGB or is too small.
    """
    pixels = burn_in_result(_checked(overlay_rgb), finding, algorithm)
    source = finding.identity()
    capture = hd.sc.SCImage(
        pixel_array=pixels,
        photometric_interpretation=hd.PhotometricInterpretationValues.RGB,
        bits_allocated=8,
        coordinate_system=hd.CoordinateSystemNames.PATIENT,
        # A fundus photograph has no orientation to the patient's axes; the
        # placeholder highdicom asks for is blanked below (Type 2, C.7.6.1.1.1).
        patient_orientation=("L", "F"),
        study_instance_uid=source.StudyInstanceUID,
        series_instance_uid=result_series_uid(source.StudyInstanceUID, algorithm,
                                              ResultKind.HEATMAP_CAPTURE),
        series_number=series_number,
        sop_instance_uid=capture_instance_uid(finding, algorithm),
        instance_number=instance_number,
        manufacturer=algorithm.manufacturer,
        manufacturer_model_name=algorithm.name,
        software_versions=algorithm.version,
        series_description=CAPTURE_SERIES_DESCRIPTION,
        content_qualification=hd.ContentQualificationValues.RESEARCH,
        contributing_equipment=[contributing_equipment(algorithm)],
        specific_character_set=source.get("SpecificCharacterSet"),
    )
    capture.copy_patient_and_study_information(source)
    capture.PatientName = finding.source.get("PatientName", "")
    capture.PatientOrientation = []
    capture.DeviceUID = algorithm.device_uid
    _derivation(capture, finding, algorithm)
    return plain_dataset(capture)


def _checked(overlay_rgb: np.ndarray) -> np.ndarray:
    pixels = np.asarray(overlay_rgb)
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise DicomInputError("the heat map overlay must be uint8 rows x columns x 3 (RGB)")
    if min(pixels.shape[:2]) < MIN_SIDE:
        raise DicomInputError(f"the heat map overlay is smaller than {MIN_SIDE} pixels a side")
    return np.ascontiguousarray(pixels)


def _derivation(capture: Dataset, finding: EyeFinding, algorithm: AlgorithmIdentity) -> None:
    """Secondary Capture Equipment, laterality, annotation and source (PS3.3 A.8.1)."""
    source = finding.source
    capture.ConversionType = "WSD"
    capture.ImageLaterality = finding.laterality
    capture.AnatomicRegionSequence = Sequence([ANATOMIC_REGION_EYE.to_item()])
    capture.BurnedInAnnotation = "YES"
    # The burned-in result as text too (LT keeps the line breaks), for a reader or a
    # program that cannot read pixels; the notice last, as on the picture.
    lines = caption_lines(finding, algorithm)[:-1]
    capture.ImageComments = "\n".join([*lines, RESEARCH_ONLY_NOTICE])
    photograph = "a simulated capture" if finding.simulated else "the photograph"
    capture.DerivationDescription = (
        f"Heat map of {algorithm.label} blended over {photograph}; result burned in")[:1024]
    reference = Dataset()
    reference.ReferencedSOPClassUID = source.SOPClassUID
    reference.ReferencedSOPInstanceUID = source.SOPInstanceUID
    reference.PurposeOfReferenceCodeSequence = Sequence(
        [SOURCE_IMAGE_FOR_PROCESSING.to_item()])
    capture.SourceImageSequence = Sequence([reference])
    if source.get("LossyImageCompression") == "01":
        capture.LossyImageCompression = "01"
        for keyword in ("LossyImageCompressionMethod", "LossyImageCompressionRatio"):
            if keyword in source:
                capture[keyword] = copy.deepcopy(source[keyword])
    if "RequestAttributesSequence" in source:
        capture["RequestAttributesSequence"] = copy.deepcopy(
            source["RequestAttributesSequence"])


def caption_lines(finding: EyeFinding, algorithm: AlgorithmIdentity) -> list[str]:
    """The lines burned in, in reading order: what the SR says of this photograph.

    The referral line carries the node's decision as made (with its
    probability, threshold and borderline flag); nothing here decides again.
    A simulated capture's result starts with :data:`SIMULATED_LINE`.
    """
    eye = _EYES[finding.laterality]
    lines = [SIMULATED_LINE] if finding.simulated else []
    if finding.grade is None:
        reasons = "; ".join(" ".join(reason.split()) for reason in finding.quality_reasons)
        reasons = reasons or "image quality too low"
        lines += [f"{eye}: UNGRADABLE - re-image", f"Quality: {reasons}"]
    else:
        lines += [f"{eye}: {GRADE_WORDS[finding.grade]} (ICDR grade {finding.grade})",
                  f"Confidence {finding.confidence:.0%}, {_referral_words(finding)}",
                  _oedema_words(finding)]
    if not finding.decisive:
        lines.append("Another photograph of this eye decides its finding")
    if finding.laterality_doubt:
        lines.append(_shortened(f"Laterality doubt: {finding.laterality_doubt}"))
    return lines + [f"Model: {algorithm.label}", NOT_FOR_CLINICAL_USE]


def _referral_words(finding: EyeFinding) -> str:
    """"referable: YES (p = 0.45, threshold 0.44, borderline)"."""
    details = [f"p = {finding.referable_probability:.2f}"]
    if finding.referral_threshold is not None:
        details.append(f"threshold {finding.referral_threshold:.2f}")
    if finding.borderline:
        details.append("borderline")
    return f"referable: {'YES' if finding.referable else 'no'} ({', '.join(details)})"


def _oedema_words(finding: EyeFinding) -> str:
    if finding.dme is None:
        return "Macular oedema: not assessed by this model"
    return (f"Macular oedema: {'YES' if finding.dme else 'no'} "
            f"(p = {finding.dme_probability:.2f})")


def _shortened(line: str) -> str:
    """At most :data:`CAPTION_MAX` characters: a long line would shrink the whole caption."""
    return line if len(line) <= CAPTION_MAX else line[:CAPTION_MAX - 3].rstrip() + "..."


def burn_in_result(overlay_rgb: np.ndarray, finding: EyeFinding,
                   algorithm: AlgorithmIdentity) -> np.ndarray:
    """The picture with :func:`caption_lines` written on a dark band at its foot."""
    picture = Image.fromarray(overlay_rgb, "RGB")
    lines = caption_lines(finding, algorithm)
    margin = max(2, picture.width // 100)
    font = _fitting_font(lines, picture.width - 2 * margin)
    line_height = _line_height(font)
    band_top = max(0, picture.height - len(lines) * line_height - 2 * margin)
    band = Image.new("RGBA", picture.size, (0, 0, 0, 0))
    ImageDraw.Draw(band).rectangle((0, band_top, picture.width, picture.height),
                                   fill=(0, 0, 0, 170))
    annotated = Image.alpha_composite(picture.convert("RGBA"), band).convert("RGB")
    draw = ImageDraw.Draw(annotated)
    for number, line in enumerate(lines):
        warning = line is lines[-1] or line == SIMULATED_LINE
        colour = (255, 220, 0) if warning else (255, 255, 255)
        draw.text((margin, band_top + margin + number * line_height), line,
                  fill=colour, font=font)
    return np.asarray(annotated, dtype=np.uint8).copy()


def _fitting_font(lines: list[str], width: int) -> _FontType:
    """Pillow's bundled font at the largest size, up to 1/32 of the width, that fits."""
    size = max(10, width // 32)
    while True:
        font = ImageFont.load_default(size=size)
        widest = max(font.getlength(line) for line in lines)
        if widest <= width or size <= 8:
            return font
        size -= 1


def _line_height(font: _FontType) -> int:
    left, top, right, bottom = font.getbbox("Ag")
    return int(bottom) + 2
