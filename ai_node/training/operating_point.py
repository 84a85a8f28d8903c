"""Choose the referable-DR threshold on validation predictions, never on test data.

Screening favours sensitivity: the threshold is the highest one at which the
validation sensitivity for referable DR (grade >= 2) reaches the target
(default 0.90; the British Diabetic Association's 80% is the usual floor).
``python -m ai_node.training.operating_point RUN_DIR`` reads the run's
``val_predictions.csv`` and prints the threshold with its validation
sensitivity and specificity.
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


def read_val_predictions(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Reference grades and referable probabilities from ``val_predictions.csv``."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    grades = np.array([int(row["icdr_grade"]) for row in rows])
    score = np.array([sum(float(row[f"p{g}"]) for g in range(REFERABLE_FROM, 5)) for row in rows])
    return grades, score


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Referable-DR threshold from validation.")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--sensitivity", type=float, default=DEFAULT_SENSITIVITY)
    args = parser.parse_args(argv)
    grades, score = read_val_predictions(args.run_dir / "val_predictions.csv")
    referable = grades >= REFERABLE_FROM
    threshold = choose_threshold(referable, score, args.sensitivity)
    sens, spec = sensitivity_specificity(referable, score >= threshold)
    print(json.dumps({"referable_threshold": round(threshold, 4), "val_sensitivity": sens,
                      "val_specificity": spec, "val_images": int(len(grades))}))


if __name__ == "__main__":
    main()
