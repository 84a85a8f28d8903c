"""What a graded order becomes: one SR, one Secondary Capture per photograph, one EMR result.

The DICOM objects come from :mod:`imaging_common.builders.ai_results`, whose
UIDs are derived from the source photographs and the model version, so that
grading the same photographs again with the same model replaces the objects
in the PACS instead of adding copies. The EMR result follows the body that
``POST /api/v1/orders/<id>/results`` validates (:mod:`emr.results`).

Every photograph is reported with its own grade, and each eye names the one
that decides it (:mod:`ai_node.grading`). The referral decision is the one
:func:`ai_node.model.serving.referral_decision` made: the SR, the captures
and the EMR result carry it, with the referable probability, the model's
registered threshold and the borderline flag, and none of them decides again.
An ungradable photograph carries no decision and no probabilities: its
referral is unknown, and it says why it must be re-taken. A simulated capture
is said to be one by each of them: the SR and its capture read the
photograph's markers themselves (:class:`imaging_common.builders.ai_findings.EyeFinding`),
the EMR result has ``simulated`` per photograph.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from imaging_common.builders.ai_results import (
    AlgorithmIdentity,
    EyeFinding,
    build_dr_report,
    build_heatmap_capture,
)

from ai_node.grading import EyeGrade, GradedImage, dme_finding, heat_overlay, png_bytes
from ai_node.model.quality import QualityReport
from ai_node.model.serving import BORDERLINE_MARGIN
from ai_node.registry import ModelEntry

__all__ = ["CAPTURE_SIDE", "EMR_PICTURE_SIDE", "ImageOutput", "Outputs", "algorithm_identity",
           "build_outputs", "image_finding", "result_body"]

#: Largest side, in pixels, of the photograph under the heat map in a Secondary
#: Capture: the map is 7 x 7 cells, so more pixels show nothing more.
CAPTURE_SIDE = 1024
#: Largest side of each picture posted to the EMR (which takes at most 2 MB
#: each): the heat map over a gradable photograph, an ungradable one as it is.
EMR_PICTURE_SIDE = 512
#: Decimal places of the numbers posted to the EMR: the body is the same on a retry.
_PLACES = 6


@dataclass(frozen=True)
class ImageOutput:
    """One photograph's capture and the picture the EMR shows of it."""

    sop_instance_uid: str
    capture: Dataset = field(repr=False)
    picture: bytes = field(repr=False)


@dataclass(frozen=True)
class Outputs:
    """The objects made for one order; ``images`` follow the eyes' photographs."""

    report: Dataset
    images: tuple[ImageOutput, ...]

    @property
    def captures(self) -> tuple[Dataset, ...]:
        """Every photograph's Secondary Capture, right eye first."""
        return tuple(image.capture for image in self.images)

    @property
    def datasets(self) -> list[Dataset]:
        """Everything to send to the PACS, the SR first."""
        return [self.report, *self.captures]

    def of(self, image: GradedImage) -> ImageOutput:
        """What was made of ``image``."""
        return next(o for o in self.images if o.sop_instance_uid == image.sop_instance_uid)


def algorithm_identity(entry: ModelEntry) -> AlgorithmIdentity:
    """The model version as the SR's algorithm and Contributing Equipment name it."""
    return AlgorithmIdentity(name=entry.name, version=entry.version,
                             device_uid=entry.device_uid)


def image_finding(image: GradedImage, decisive: bool) -> EyeFinding:
    """The SR's finding for one photograph: its grade and the node's decision as made."""
    result, referral = image.result, image.result.referral
    return EyeFinding(
        laterality=image.laterality,
        source=image.dataset,
        grade=result.grade,
        probabilities=tuple(result.probabilities) if referral else (),
        referable_probability=None if referral is None else referral.probability,
        referable=None if referral is None else referral.referable,
        quality_reasons=result.quality.reasons if referral is None else (),
        referral_threshold=None if referral is None else referral.threshold,
        borderline=None if referral is None else referral.borderline,
        dme_probability=result.dme_probability if referral else None,
        dme=dme_finding(result),
        decisive=decisive,
        laterality_doubt=image.laterality_doubt or "",
    )


def _eye_findings(eye: EyeGrade) -> list[EyeFinding]:
    return [image_finding(image, image is eye.decisive) for image in eye.images]


def build_outputs(eyes: Sequence[EyeGrade], entry: ModelEntry,
                  performed_at: datetime) -> Outputs:
    """The SR for every photograph of both eyes and a Secondary Capture of each."""
    algorithm = algorithm_identity(entry)
    findings = [finding for eye in eyes for finding in _eye_findings(eye)]
    report = build_dr_report(findings, algorithm, content_datetime=performed_at)
    images = []
    graded = [image for eye in eyes for image in eye.images]
    for number, (image, finding) in enumerate(zip(graded, findings), start=1):
        picture: np.ndarray = heat_overlay(image, CAPTURE_SIDE)
        capture = build_heatmap_capture(finding, picture, algorithm, instance_number=number)
        images.append(ImageOutput(image.sop_instance_uid, capture,
                                  png_bytes(picture, EMR_PICTURE_SIDE)))
    return Outputs(report, tuple(images))


def _number(value: float | None) -> float | None:
    return None if value is None else round(float(value), _PLACES)


def _quality_json(quality: QualityReport) -> dict[str, float]:
    """The quality scores (:mod:`ai_node.model.quality`), without the verdict."""
    scores = asdict(quality)
    return {name: round(float(scores[name]), 4)
            for name in ("field", "brightness", "overexposed", "underexposed", "focus")}


def _decision_json(image: GradedImage) -> dict[str, Any]:
    """Grade, probabilities, the node's referral and oedema finding: null when ungradable."""
    result, referral = image.result, image.result.referral
    return {
        "grade": result.grade,
        "probabilities": ([_number(p) for p in result.probabilities] if referral else None),
        "referable": None if referral is None else referral.referable,
        "referable_probability": None if referral is None else _number(referral.probability),
        "referral_threshold": None if referral is None else _number(referral.threshold),
        "borderline": None if referral is None else referral.borderline,
        "dme_probability": _number(result.dme_probability) if referral else None,
        "maculopathy": dme_finding(result),  # null: not assessed, never "absent"
        "image_quality": "good" if referral else "ungradable",
    }


def _image_json(image: GradedImage, decisive: bool, output: ImageOutput) -> dict[str, Any]:
    picture = "heatmap_png" if image.result.referral else "photograph_png"
    return {
        "sop_instance_uid": image.sop_instance_uid,
        "decisive": decisive,
        **_decision_json(image),
        "quality": _quality_json(image.result.quality),
        "quality_reasons": list(image.result.quality.reasons),
        "laterality_doubt": image.laterality_doubt,
        "simulated": image.simulated,
        "sc_sop_instance_uid": str(output.capture.SOPInstanceUID),
        picture: base64.b64encode(output.picture).decode("ascii"),
    }


def _eye_json(eye: EyeGrade, outputs: Outputs) -> dict[str, Any]:
    """One eye: its deciding photograph's finding, then every photograph's own."""
    decisive = eye.decisive
    return {
        "laterality": eye.laterality,
        **_decision_json(decisive),
        "borderline_margin": BORDERLINE_MARGIN,
        "quality_score": None,
        "quality": _quality_json(decisive.result.quality),
        "quality_reasons": list(eye.quality_reasons),
        "source_sop_instance_uids": [image.sop_instance_uid for image in eye.images],
        "decisive_sop_instance_uid": decisive.sop_instance_uid,
        "sc_sop_instance_uid": str(outputs.of(decisive).capture.SOPInstanceUID),
        "images": [_image_json(image, image is decisive, outputs.of(image))
                   for image in eye.images],
    }


def result_body(eyes: Sequence[EyeGrade], outputs: Outputs, entry: ModelEntry,
                performed_at: datetime) -> dict[str, Any]:
    """The body of ``POST /api/v1/orders/<id>/results``.

    Each eye names the capture of its deciding photograph, and each photograph
    its own; the result-level UID the EMR also asks for is the first eye's
    (the right one when both are ordered).
    """
    body_eyes = [_eye_json(eye, outputs) for eye in eyes]
    return {
        "model": {"name": entry.name, "version": entry.version},
        "performed_at": performed_at.isoformat(),
        "sr_sop_instance_uid": str(outputs.report.SOPInstanceUID),
        "sc_sop_instance_uid": body_eyes[0]["sc_sop_instance_uid"],
        "eyes": body_eyes,
    }
