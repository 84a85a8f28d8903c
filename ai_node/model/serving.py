"""Grade one photograph the way the AI node does: quality first, then the model.

The node loads the registry's active model once (:func:`load_active`) and calls
:func:`grade_photograph` per eye. Every result names the model version and its
Device UID, so the SR's Contributing Equipment follows the registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ai_node.model.grader import referable_probability
from ai_node.model.heatmap import class_activation
from ai_node.model.preprocessing import preprocess
from ai_node.model.quality import QualityReport, score_image
from ai_node.model.runtime import Grader, TFLiteGrader
from ai_node.registry import ModelEntry, Registry

REIMAGE = "re-image"
REFER = "refer to an ophthalmologist"
ROUTINE = "routine re-screening"


@dataclass(frozen=True)
class ServedModel:
    """A registry entry with its loaded runtime."""

    entry: ModelEntry
    grader: Grader


@dataclass(frozen=True)
class GradeResult:
    """The outcome for one eye; ``grade`` is None when the image is ungradable.

    ``heat`` is the referable-DR class activation map (coarse, values 0-1) to
    be resized over the photograph; None when ungradable.
    """

    grade: int | None
    probabilities: tuple[float, ...]
    referable_probability: float | None
    recommendation: str
    quality: QualityReport
    model_name: str
    model_version: str
    device_uid: str
    heat: np.ndarray | None = field(default=None, compare=False, repr=False)


def load_active(registry_root: Path, name: str) -> ServedModel:
    """The active version of ``name`` with its TFLite runtime."""
    entry = Registry(registry_root).active(name)
    return ServedModel(entry, TFLiteGrader(entry.served_path))


def grade_photograph(rgb: np.ndarray, served: ServedModel) -> GradeResult:
    """Quality check, then grade and recommendation, for one raw colour photograph."""
    entry = served.entry
    quality = score_image(rgb)
    if not quality.gradable:
        return GradeResult(None, (), None, REIMAGE, quality, entry.name, entry.version,
                           entry.device_uid)
    probabilities, maps = served.grader.predict_with_maps(
        preprocess(rgb, served.grader.input_size)[None])
    referable = float(referable_probability(probabilities)[0])
    recommendation = REFER if referable >= entry.operating_point else ROUTINE
    return GradeResult(int(probabilities[0].argmax()), tuple(map(float, probabilities[0])),
                       referable, recommendation, quality, entry.name, entry.version,
                       entry.device_uid, class_activation(maps[0], probabilities[0]))
