"""Grade an order's photographs and decide one finding per eye.

Every photograph is decoded (YBR to RGB as needed, PS3.3 C.7.6.3.1.2) and
graded by :func:`ai_node.model.serving.grade_photograph`, which checks its
quality and makes the referral decision. Every photograph is reported, each
with its own grade and decision; one of them *decides* the eye:

- the eye's finding comes from its *worst gradable* photograph: a referable
  one before any other (so the eye is referred when any of its photographs
  is: the referral decision is never overruled by a grade), then the highest
  ICDR grade, then the highest referable probability, then the lowest SOP
  Instance UID (only so that the choice is the same on every run);
- an eye none of whose photographs is gradable is *ungradable* ("re-image"),
  with the reasons of all of them;
- photographs of an eye the order does not cover, or without Image
  Laterality R or L, are left out; an ordered eye without any photograph
  makes the order not gradable;
- each photograph is checked against its Image Laterality from its pixels
  (:func:`imaging_common.laterality.laterality_doubt`: the optic disc's side):
  a photograph that looks like the other eye is graded as labelled, and the
  doubt goes with it into the SR and the EMR for a person to settle;
- a simulated capture (:func:`imaging_common.simulation.is_simulated`: the
  station's demo mode draws it and marks it in DICOM) is graded like any
  photograph, and is said to be one in the SR, its capture and the EMR.

This module loads the model's runtime (and whatever the serving code
imports with it): only the worker imports it.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels import pixel_array

from imaging_common.exceptions import DicomInputError
from imaging_common.laterality import laterality_doubt
from imaging_common.logs import get_logger
from imaging_common.simulation import is_simulated

from ai_node.exceptions import OrderNotGradable
from ai_node.model.heatmap import map_to_photograph, overlay
from ai_node.model.serving import GradeResult, ServedModel, grade_photograph

__all__ = ["EyeGrade", "GradedImage", "choose_eyes", "dme_finding", "grade_images",
           "heat_overlay", "photograph_rgb", "png_bytes"]

log = get_logger(__name__)

EYES = ("R", "L")


@dataclass(frozen=True)
class GradedImage:
    """One photograph, its pixels as RGB, and what the model made of it.

    ``laterality_doubt`` says why the pixels look like the other eye than
    the photograph's Image Laterality; None when they do not. ``simulated``:
    the photograph is a simulated capture, not a photograph of the patient.
    """

    dataset: Dataset = field(repr=False)
    laterality: str
    rgb: np.ndarray = field(repr=False, compare=False)
    result: GradeResult
    laterality_doubt: str | None = None
    simulated: bool = False

    @property
    def sop_instance_uid(self) -> str:
        return str(self.dataset.SOPInstanceUID)


@dataclass(frozen=True)
class EyeGrade:
    """The finding of one eye: the photograph it comes from, and every one looked at."""

    laterality: str
    decisive: GradedImage
    images: tuple[GradedImage, ...]

    @property
    def result(self) -> GradeResult:
        return self.decisive.result

    @property
    def gradable(self) -> bool:
        return self.decisive.result.grade is not None

    @property
    def further(self) -> tuple[GradedImage, ...]:
        """The eye's photographs other than the deciding one, by SOP Instance UID."""
        return tuple(image for image in self.images if image is not self.decisive)

    @property
    def quality_reasons(self) -> tuple[str, ...]:
        """Why the eye is ungradable: the failed checks of all its photographs."""
        if self.gradable:
            return ()
        return tuple(dict.fromkeys(r for i in self.images for r in i.result.quality.reasons))


def photograph_rgb(ds: Dataset) -> np.ndarray:
    """The first frame of a photograph as ``uint8`` RGB ``(rows, columns, 3)``.

    Raises:
        DicomInputError: the pixel data cannot be decoded.
    """
    try:
        pixels = pixel_array(ds, index=0)  # YBR_FULL(_422) comes back as RGB
    except Exception as exc:  # the decoders raise many kinds for bad data
        raise DicomInputError(f"the pixel data of {ds.SOPInstanceUID} cannot be decoded: "
                              f"{exc}") from None
    if pixels.dtype != np.uint8:
        bits = int(ds.get("BitsStored", 16))
        pixels = (pixels.astype(np.float32) * (255.0 / ((1 << bits) - 1))).round()
        pixels = np.clip(pixels, 0, 255).astype(np.uint8)
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    return np.ascontiguousarray(pixels)


def grade_images(photographs: Iterable[Dataset], served: ServedModel,
                 eyes: Sequence[str] = EYES) -> list[GradedImage]:
    """Grade every photograph of an eye in ``eyes`` and check its laterality; the others
    are logged and left out."""
    graded = []
    for ds in photographs:
        laterality = str(ds.get("ImageLaterality", "")).strip().upper()
        if laterality not in eyes:
            log.info("photograph left out", sop_instance_uid=str(ds.SOPInstanceUID),
                     image_laterality=laterality or None)
            continue
        rgb = photograph_rgb(ds)
        doubt = laterality_doubt(laterality, rgb)
        graded.append(GradedImage(ds, laterality, rgb, grade_photograph(rgb, served), doubt,
                                  is_simulated(ds)))
        log.info("graded", sop_instance_uid=str(ds.SOPInstanceUID), laterality=laterality,
                 grade=graded[-1].result.grade, laterality_doubt=doubt is not None,
                 simulated=graded[-1].simulated)
    return graded


def _severity(image: GradedImage) -> tuple[bool, int, float]:
    """The order of "worse" among gradable photographs: referable, grade, probability."""
    result = image.result
    return (bool(result.referable), result.grade if result.grade is not None else -1,
            result.referable_probability or 0.0)


def dme_finding(result: GradeResult) -> bool | None:
    """The model's macular-oedema finding; None when it does not assess oedema.

    Present when P(DME) reaches the referral threshold the photograph was
    decided against: the referable probability is never below P(DME)
    (:func:`ai_node.model.grader.referable_probability`), so an oedema finding
    is always a referred one, and the report never says "oedema" of an eye it
    does not refer.
    """
    if result.dme_probability is None or result.referral is None:
        return None
    return result.dme_probability >= result.referral.threshold


def choose_eyes(graded: Sequence[GradedImage], ordered: Sequence[str]) -> list[EyeGrade]:
    """One :class:`EyeGrade` per ordered eye, R before L, by the module's rule.

    Raises:
        OrderNotGradable: an ordered eye has no photograph.
    """
    eyes = []
    for laterality in (e for e in EYES if e in ordered):
        images = tuple(sorted((g for g in graded if g.laterality == laterality),
                              key=lambda g: g.sop_instance_uid))
        if not images:
            side = "right" if laterality == "R" else "left"
            raise OrderNotGradable(f"the study holds no photograph of the {side} eye")
        gradable = [g for g in images if g.result.grade is not None]
        # max() keeps the first of equals: with images by UID, the lowest UID.
        decisive = max(gradable, key=_severity) if gradable else images[0]
        eyes.append(EyeGrade(laterality, decisive, images))
    return eyes


def _fit(rgb: np.ndarray, max_side: int) -> np.ndarray:
    height, width = rgb.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return rgb
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))


def heat_overlay(image: GradedImage, max_side: int) -> np.ndarray:
    """The photograph, at most ``max_side`` pixels a side, under its heat map.

    An ungradable photograph has no heat map: it comes back as it is.
    """
    photo = _fit(image.rgb, max_side)
    heat = image.result.heat
    if heat is None:
        return photo
    return overlay(photo, map_to_photograph(heat, photo))


def png_bytes(rgb: np.ndarray, max_side: int) -> bytes:
    """An RGB picture as PNG, at most ``max_side`` pixels a side."""
    buffer = io.BytesIO()
    # Level 3: a tenth of optimize=True's time for a file some 15% larger.
    Image.fromarray(_fit(rgb, max_side)).save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()
