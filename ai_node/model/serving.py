"""Grade one photograph the way the AI node does: quality first, then the model.

The node loads the registry's active model once (:func:`load_active`) and calls
:func:`grade_photograph` per eye. Every result names the model version and its
Device UID, so the SR's Contributing Equipment follows the registry.

The referral decision is made here and nowhere else (:func:`referral_decision`):
the referable probability (:func:`~ai_node.model.grader.referable_probability`,
DR grade and macular oedema together where the model assesses oedema) at or
above the model's registered threshold. The SR, the heat-map capture and the
EMR carry this decision; none of them decides again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ai_node.model.grader import referable_dr_probability, referable_probability
from ai_node.model.heatmap import class_activation
from ai_node.model.preprocessing import preprocess
from ai_node.model.quality import QualityReport, score_image
from ai_node.model.runtime import Grader, TFLiteGrader
from ai_node.registry import ModelEntry, Registry

REIMAGE = "re-image"
REFER = "refer to an ophthalmologist"
ROUTINE = "routine re-screening"
#: A referable probability this close to the threshold (either side) is *borderline*:
#: the decision stands, and the reader is told it could have gone the other way.
BORDERLINE_MARGIN = 0.05


@dataclass(frozen=True)
class Referral:
    """The referral decision for one photograph, with what it was made from."""

    referable: bool
    probability: float
    threshold: float
    borderline: bool


def referral_decision(probability: float, threshold: float,
                      margin: float = BORDERLINE_MARGIN) -> Referral:
    """Referable when ``probability >= threshold``; borderline within ``margin`` of it."""
    return Referral(probability >= threshold, probability, threshold,
                    abs(probability - threshold) <= margin)


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
    #: P(referable DME); None when ungradable or when the model does not assess oedema.
    dme_probability: float | None = None
    #: The decision; None when ungradable.
    referral: Referral | None = None

    @property
    def referable(self) -> bool | None:
        """The referral decision; None (unknown) for an ungradable photograph."""
        return None if self.referral is None else self.referral.referable

    @property
    def referable_dr_probability(self) -> float | None:
        """P(grade >= 2) alone, without macular oedema."""
        if not self.probabilities:
            return None
        return float(referable_dr_probability(np.array([self.probabilities]))[0])


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
    outputs = served.grader.predict_outputs(preprocess(rgb, served.grader.input_size)[None])
    probabilities = outputs.probabilities
    dme = None if outputs.dme is None else float(outputs.dme[0])
    probability = float(referable_probability(
        probabilities, None if dme is None else np.array([dme]))[0])
    referral = referral_decision(probability, entry.operating_point)
    return GradeResult(int(probabilities[0].argmax()), tuple(map(float, probabilities[0])),
                       probability, REFER if referral.referable else ROUTINE, quality,
                       entry.name, entry.version, entry.device_uid,
                       class_activation(outputs.maps[0], probabilities[0]),
                       dme_probability=dme, referral=referral)
