"""Choose the referral threshold on validation predictions, never on test data.

Screening favours sensitivity: the threshold is the highest one at which the
sensitivity for referable disease on the run's pooled validation photographs
(every raw colour source of the run together) reaches the target (default
0.90; the British Diabetic Association's 80% is the usual floor). Referable is
grade >= 2 or DME, scored by the combined referable probability
(:func:`~ai_node.model.grader.referable_probability`); predictions written
before the DME output (no ``p_referable`` column) fall back to P(grade >= 2).

``python -m ai_node.training.operating_point RUN_DIR`` reads the run's
``val_predictions.csv``, prints the threshold with its validation sensitivity
and specificity, and writes them with the rule, in words, to
``RUN_DIR/operating_point.json``, which ``fovea-models register --metadata``
takes into the registry.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from ai_node.metrics import sensitivity_specificity
from ai_node.model.grader import REFERABLE_FROM

DEFAULT_SENSITIVITY = 0.90


def choose_threshold(referable: np.ndarray, score: np.ndarray,
                     target_sensitivity: float = DEFAULT_SENSITIVITY) -> float:
    """The highest score threshold whose sensitivity is at least the target."""
    positives = np.sort(np.asarray(score)[np.asarray(referable, bool)])[::-1]
    if positives.size == 0:
        raise ValueError("no referable cases to set an operating point on")
    needed = int(np.ceil(target_sensitivity * positives.size))
    return float(positives[max(needed, 1) - 1])


def read_val_predictions(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Reference referable status, referable probability and source per validation image."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if rows and "p_referable" in rows[0]:
        referable = np.array([row["referable"] == "1" for row in rows])
        score = np.array([float(row["p_referable"]) for row in rows])
    else:
        referable = np.array([int(row["icdr_grade"]) >= REFERABLE_FROM for row in rows])
        score = np.array([sum(float(row[f"p{g}"]) for g in range(REFERABLE_FROM, 5))
                          for row in rows])
    return referable, score, [row.get("source", "") for row in rows]


def operating_point(run_dir: Path, target: float = DEFAULT_SENSITIVITY) -> dict[str, object]:
    """The threshold, its validation figures and the rule that chose it."""
    referable, score, sources = read_val_predictions(run_dir / "val_predictions.csv")
    threshold = choose_threshold(referable, score, target)
    sens, spec = sensitivity_specificity(referable, score >= threshold)
    names = sorted(set(sources) - {""})
    rule = (f"the highest threshold on the combined referable probability with sensitivity"
            f" >= {target:.2f} for referable disease (grade >= 2 or DME) on the pooled"
            f" validation photographs ({len(score)} images, {int(referable.sum())} referable"
            + (f"; {', '.join(names)}" if names else "") + "), fixed before any test image"
            " was scored")
    return {"referable_threshold": round(threshold, 4), "val_sensitivity": sens,
            "val_specificity": spec, "val_images": int(len(score)),
            "operating_point_rule": rule}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Referral threshold from validation.")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--sensitivity", type=float, default=DEFAULT_SENSITIVITY)
    args = parser.parse_args(argv)
    result = operating_point(args.run_dir, args.sensitivity)
    (args.run_dir / "operating_point.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
