"""What a graded order becomes: one SR, one Secondary Capture per eye, one EMR result.

The DICOM objects come from :mod:`imaging_common.builders.ai_results`, whose
UIDs are derived from the source photographs and the model version, so that
grading the same photographs again with the same model replaces the objects
in the PACS instead of adding copies. The EMR result follows the body that
``POST /api/v1/orders/<id>/results`` validates (:mod:`emr.results`).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
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

from ai_node.grading import EyeGrade, heat_overlay, png_bytes
from ai_node.registry import ModelEntry

__all__ = ["CAPTURE_SIDE", "EMR_HEATMAP_SIDE", "Outputs", "algorithm_identity", "build_outputs",
           "eye_finding", "result_body"]

#: Largest side, in pixels, of the photograph under the heat map in a Secondary
#: Capture: the map is 7 x 7 cells, so more pixels show nothing more.
CAPTURE_SIDE = 1024
#: Largest side of the heat map PNG posted to the EMR (which takes at most 2 MB).
EMR_HEATMAP_SIDE = 512
#: ICDR grade from which the EMR counts an eye as referable (emr.grading.Finding).
EMR_REFERABLE_FROM = 2
#: The EMR's schema asks five probabilities of every eye; an ungradable eye was
#: not graded, and carries the uniform distribution, as the EMR's own examples do.
UNGRADED_PROBABILITIES = (0.2,) * 5


@dataclass(frozen=True)
class Outputs:
    """The objects made for one order; ``captures`` and ``heatmaps`` follow the eyes."""

    report: Dataset
    captures: tuple[Dataset, ...]
    heatmaps: tuple[bytes | None, ...] = field(repr=False)

    @property
    def datasets(self) -> list[Dataset]:
        """Everything to send to the PACS, the SR first."""
        return [self.report, *self.captures]


def algorithm_identity(entry: ModelEntry) -> AlgorithmIdentity:
    """The model version as the SR's algorithm and Contributing Equipment name it."""
    return AlgorithmIdentity(name=entry.name, version=entry.version,
                             device_uid=entry.device_uid)


def eye_finding(eye: EyeGrade, operating_point: float) -> EyeFinding:
    """The SR's finding for one eye.

    Referable is the model's own decision: its referable-DR probability at or
    above the operating point chosen on validation images (the model card's).
    """
    result = eye.result
    probability = result.referable_probability
    return EyeFinding(
        laterality=eye.laterality,
        source=eye.decisive.dataset,
        grade=result.grade,
        probabilities=tuple(result.probabilities) if eye.gradable else (),
        referable_probability=probability,
        referable=None if probability is None else probability >= operating_point,
        quality_reasons=eye.quality_reasons,
    )


def build_outputs(eyes: Sequence[EyeGrade], entry: ModelEntry,
                  performed_at: datetime) -> Outputs:
    """The SR for both eyes and a Secondary Capture of each eye's heat map."""
    algorithm = algorithm_identity(entry)
    findings = [eye_finding(eye, entry.operating_point) for eye in eyes]
    report = build_dr_report(findings, algorithm, content_datetime=performed_at)
    captures, heatmaps = [], []
    for number, (eye, finding) in enumerate(zip(eyes, findings), start=1):
        picture: np.ndarray = heat_overlay(eye.decisive, CAPTURE_SIDE)
        captures.append(build_heatmap_capture(finding, picture, algorithm, instance_number=number))
        heatmaps.append(png_bytes(picture, EMR_HEATMAP_SIDE) if eye.gradable else None)
    return Outputs(report, tuple(captures), tuple(heatmaps))


def _eye_json(eye: EyeGrade, heatmap: bytes | None) -> dict[str, Any]:
    result = eye.result
    grade = result.grade
    probabilities = result.probabilities if eye.gradable else UNGRADED_PROBABILITIES
    sources = [eye.decisive.sop_instance_uid] + [
        i.sop_instance_uid for i in eye.images if i is not eye.decisive]
    body: dict[str, Any] = {
        "laterality": eye.laterality,
        "grade": grade,
        "probabilities": [round(float(p), 6) for p in probabilities],
        "referable": grade is not None and grade >= EMR_REFERABLE_FROM,
        "maculopathy": None,  # the model does not assess macular oedema
        "image_quality": "good" if eye.gradable else "ungradable",
        "quality_score": None,
        "source_sop_instance_uids": sources,
    }
    if heatmap is not None:
        body["heatmap_png"] = base64.b64encode(heatmap).decode("ascii")
    return body


def result_body(eyes: Sequence[EyeGrade], outputs: Outputs, entry: ModelEntry,
                performed_at: datetime) -> dict[str, Any]:
    """The body of ``POST /api/v1/orders/<id>/results``.

    Each eye names its own Secondary Capture; the result-level UID the EMR
    also asks for is the first eye's (the right one when both are ordered).
    """
    return {
        "model": {"name": entry.name, "version": entry.version},
        "performed_at": performed_at.isoformat(),
        "sr_sop_instance_uid": str(outputs.report.SOPInstanceUID),
        "sc_sop_instance_uid": str(outputs.captures[0].SOPInstanceUID),
        "eyes": [{**_eye_json(eye, heatmap), "sc_sop_instance_uid": str(capture.SOPInstanceUID)}
                 for eye, heatmap, capture in zip(eyes, outputs.heatmaps, outputs.captures)],
    }
