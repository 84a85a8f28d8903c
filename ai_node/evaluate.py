"""Evaluate a grader on a labelled image set, with bootstrap 95% intervals.

::

    python -m ai_node.evaluate --images DIR --labels CSV --json OUT [--plots DIR]
        [--model FILE | --registry models --name dr-grader [--version V]]
        [--where official_split=test] [--threshold 0.5]

Writes the metrics JSON, ``<json stem>.predictions.csv`` (one row per image,
with the combined referable probability ``p_referable`` and ``p_dme``) and the
PNG plots. The CSV needs ``file`` (relative to ``--images``) and
``icdr_grade``; rows flagged ``dup_label_conflict=1`` and rows without a grade
are dropped. Images go through the same
:func:`ai_node.model.preprocessing.preprocess` and, by default, the same
served TFLite file of the registry's active model as the AI node uses.

Referable is moderate NPDR or worse, or referable macular oedema: where the
CSV has a ``referable`` column it is the reference; otherwise grade >= 2, or
DME where the CSV grades it: a ``dme`` column, IDRiD's ``dme_risk`` >= 1, or
the column ``--dme-column`` names (fundus-dr600's ``maculopathy``; not
ODIR's, whose "maculopathy" keyword marks non-diabetic macular disease). The score is
:func:`~ai_node.model.grader.referable_probability`, the node's own, and its
operating point the model's registered threshold unless ``--threshold`` is
given. With a DME reference and a grader that assesses oedema, DME AUC,
sensitivity and specificity (P(DME) at the same threshold) are added.
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ai_node import metrics
from ai_node.model.grader import NUM_GRADES, REFERABLE_FROM, referable_probability
from ai_node.model.preprocessing import load_rgb, preprocess
from ai_node.model.runtime import Grader, load_grader

DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class Label:
    """One reference row: the image, its grade, and DME / referable where the CSV says."""

    file: str
    grade: int
    dme: bool | None = None
    referable: bool | None = None

    @property
    def reference_referable(self) -> bool:
        """The CSV's ``referable``, else grade >= 2 or DME."""
        if self.referable is not None:
            return self.referable
        return self.grade >= REFERABLE_FROM or bool(self.dme)


@dataclass(frozen=True)
class Predictions:
    """Ground truth and model output for n images.

    ``dme`` is P(DME) per image, None for a grader without an oedema output;
    ``dme_truth`` is 1/0, or -1 where the reference does not grade oedema.
    """

    files: list[str]
    truth: np.ndarray
    probabilities: np.ndarray
    referable_truth: np.ndarray | None = None
    dme: np.ndarray | None = None
    dme_truth: np.ndarray | None = None

    @property
    def referable(self) -> np.ndarray:
        """The reference referable status per image."""
        if self.referable_truth is not None:
            return self.referable_truth
        return self.truth >= REFERABLE_FROM

    @property
    def score(self) -> np.ndarray:
        """The combined referable probability, as the node computes it."""
        return referable_probability(self.probabilities, self.dme)


def _flag(value: str | None) -> bool | None:
    if value is None or value.strip() == "":
        return None
    return value.strip() in ("1", "True", "true", "yes")


def _dme_of(row: dict[str, str], column: str | None) -> bool | None:
    """The row's DME reference: 0/1, or a risk grade (>= 1 is present); None: not graded."""
    name = column or next((c for c in ("dme", "dme_risk") if c in row), None)
    value = row.get(name, "").strip() if name else ""
    if value == "":
        return None
    return value in ("True", "true", "yes") or (value.isdigit() and int(value) >= 1)


def read_labels(csv_path: Path, where: dict[str, str],
                dme_column: str | None = None) -> list[Label]:
    """Rows matching every ``column=value`` filter; conflicts and ungraded rows dropped."""
    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    keep = [row for row in rows if row.get("dup_label_conflict", "0") not in ("1", "True")
            and row.get("icdr_grade", "").strip()
            and all(row.get(key) == value for key, value in where.items())]
    return [Label(row["file"], int(row["icdr_grade"]), _dme_of(row, dme_column),
                  _flag(row.get("referable"))) for row in keep]


def predict(grader: Grader, images: Path, labels: list[Label],
            already_filtered: bool = False) -> Predictions:
    """Run the grader over every labelled image."""
    probabilities, dme = [], []
    for label in labels:
        outputs = grader.predict_outputs(preprocess(load_rgb(images / label.file),
                                                    grader.input_size, already_filtered)[None])
        probabilities.append(outputs.probabilities[0])
        if outputs.dme is not None:
            dme.append(float(outputs.dme[0]))
    graded = any(label.dme is not None for label in labels)
    return Predictions(
        [label.file for label in labels], np.array([label.grade for label in labels]),
        np.array(probabilities).reshape(-1, NUM_GRADES),
        np.array([label.reference_referable for label in labels]),
        np.array(dme) if grader.assesses_dme else None,
        np.array([-1 if label.dme is None else int(label.dme) for label in labels])
        if graded else None)


def _statistics(p: Predictions, threshold: float) -> dict[str, Callable[[np.ndarray], float]]:
    grade = p.probabilities.argmax(axis=1)
    referable = p.referable
    score = p.score
    confidence = p.probabilities.max(axis=1)

    def sens(i: np.ndarray) -> float:
        return metrics.sensitivity_specificity(referable[i], score[i] >= threshold)[0]

    def spec(i: np.ndarray) -> float:
        return metrics.sensitivity_specificity(referable[i], score[i] >= threshold)[1]

    statistics = {
        "quadratic_weighted_kappa": lambda i: metrics.quadratic_weighted_kappa(
            p.truth[i], grade[i]),
        "accuracy": lambda i: float((p.truth[i] == grade[i]).mean()),
        "referable_auc": lambda i: metrics.roc_auc(referable[i], score[i]),
        "referable_sensitivity": sens,
        "referable_specificity": spec,
        "expected_calibration_error": lambda i: metrics.expected_calibration_error(
            p.truth[i] == grade[i], confidence[i]),
        "referable_calibration_error": lambda i: metrics.expected_calibration_error(
            referable[i] == (score[i] >= 0.5), np.maximum(score[i], 1 - score[i])),
    }
    return statistics | _dme_statistics(p, threshold)


def _dme_statistics(p: Predictions,
                    threshold: float) -> dict[str, Callable[[np.ndarray], float]]:
    """DME AUC, sensitivity and specificity on the images whose oedema is graded."""
    if p.dme is None or p.dme_truth is None:
        return {}
    graded = p.dme_truth >= 0
    if not (0 < p.dme_truth[graded].sum() < graded.sum()):
        return {}
    truth, dme = p.dme_truth == 1, p.dme

    def auc(i: np.ndarray) -> float:
        i = i[graded[i]]
        return metrics.roc_auc(truth[i], dme[i])

    def sens(i: np.ndarray) -> float:
        i = i[graded[i]]
        return metrics.sensitivity_specificity(truth[i], dme[i] >= threshold)[0]

    def spec(i: np.ndarray) -> float:
        i = i[graded[i]]
        return metrics.sensitivity_specificity(truth[i], dme[i] >= threshold)[1]

    return {"dme_auc": auc, "dme_sensitivity": sens, "dme_specificity": spec}


def summarise(p: Predictions, threshold: float, rounds: int = 1000,
              seed: int = 0) -> dict[str, Any]:
    """Every metric with its bootstrap 95% interval, plus the confusion matrix."""
    n = len(p.truth)
    everything = np.arange(n)
    result: dict[str, Any] = {"images": n, "referable_threshold": threshold,
                              "bootstrap_rounds": rounds}
    for name, statistic in _statistics(p, threshold).items():
        low, high = metrics.bootstrap_interval(statistic, n, rounds, seed)
        result[name] = {"value": statistic(everything), "ci95": [low, high]}
    result["confusion_matrix"] = metrics.confusion_matrix(
        p.truth, p.probabilities.argmax(axis=1), NUM_GRADES).tolist()
    return result


def save_plots(p: Predictions, summary: dict[str, Any], out_dir: Path) -> list[Path]:
    """Confusion matrix and referable-DR ROC curve as PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    matrix = np.array(summary["confusion_matrix"])
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.imshow(matrix, cmap="Blues")
    for (row, col), count in np.ndenumerate(matrix):
        ax.text(col, row, str(count), ha="center", va="center",
                color="white" if count > matrix.max() / 2 else "black")
    ax.set(xlabel="predicted ICDR grade", ylabel="reference ICDR grade",
           xticks=range(NUM_GRADES), yticks=range(NUM_GRADES),
           title=f"QWK {summary['quadratic_weighted_kappa']['value']:.3f}")
    confusion_png = out_dir / "confusion_matrix.png"
    fig.savefig(confusion_png, dpi=100, bbox_inches="tight")
    plt.close(fig)
    fpr, tpr = metrics.roc_curve(p.referable, p.score)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(fpr, tpr, label=f"AUC {summary['referable_auc']['value']:.3f}")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    title = "Referable (grade >= 2 or DME)" if p.dme is not None else "Referable DR (grade >= 2)"
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", title=title)
    ax.legend(loc="lower right")
    roc_png = out_dir / "roc_referable.png"
    fig.savefig(roc_png, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return [confusion_png, roc_png]


def write_predictions(p: Predictions, path: Path) -> None:
    """One row per image: reference, predicted grade, probabilities, P(DME), p_referable.

    ``p_dme`` is empty for a grader that does not assess oedema.
    """
    score = p.score
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "icdr_grade", "referable", "predicted_grade"]
                        + [f"p{g}" for g in range(NUM_GRADES)] + ["p_dme", "p_referable"])
        for i, (name, truth, probs) in enumerate(zip(p.files, p.truth, p.probabilities)):
            writer.writerow([name, truth, int(p.referable[i]), int(probs.argmax())]
                            + [f"{v:.6f}" for v in probs]
                            + ["" if p.dme is None else f"{p.dme[i]:.6f}", f"{score[i]:.6f}"])


def _resolve_model(args: argparse.Namespace) -> tuple[Path, float, str]:
    """Model file, operating point and a label naming the model."""
    if args.model:
        return args.model, args.threshold or DEFAULT_THRESHOLD, str(args.model)
    from ai_node.registry import Registry

    entry = Registry(args.registry).get(args.name, args.version)
    threshold = args.threshold or entry.operating_point
    return entry.served_path, threshold, f"{entry.name} {entry.version}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Evaluate the DR grader on labelled images.")
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--json", type=Path, required=True, help="metrics file to write")
    parser.add_argument("--plots", type=Path, help="folder for the PNG plots (default: beside"
                        " the JSON file)")
    parser.add_argument("--model", type=Path, help=".tflite or .keras file (default: the"
                        " registry's active model)")
    parser.add_argument("--registry", type=Path, default=Path("models"))
    parser.add_argument("--name", default="dr-grader")
    parser.add_argument("--version", help="registered version (default: the active one)")
    parser.add_argument("--where", action="append", default=[], metavar="COLUMN=VALUE")
    parser.add_argument("--threshold", type=float, help="referable operating point")
    parser.add_argument("--already-filtered", action="store_true",
                        help="images carry the Graham filter already (APTOS 2019)")
    parser.add_argument("--dme-column", help="the labels' DME column (default: dme, else"
                        " dme_risk)")
    parser.add_argument("--bootstrap", type=int, default=1000)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    where = dict(item.split("=", 1) for item in args.where)
    model_path, threshold, label = _resolve_model(args)
    labels = read_labels(args.labels, where, args.dme_column)
    predictions = predict(load_grader(model_path), args.images, labels, args.already_filtered)
    command = "python -m ai_node.evaluate " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    summary = {"model": label, "labels": str(args.labels), "where": where, "command": command,
               **summarise(predictions, threshold, args.bootstrap)}
    plots = save_plots(predictions, summary, args.plots or args.json.parent)
    summary["plots"] = [str(path) for path in plots]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(summary, indent=2) + "\n")
    write_predictions(predictions, args.json.with_suffix(".predictions.csv"))
    for key, value in summary.items():
        if isinstance(value, dict) and "ci95" in value:
            low, high = value["ci95"]
            print(f"{key:28s} {value['value']:.4f}  (95% CI {low:.4f}-{high:.4f})")
    print("confusion matrix (rows: reference grade 0-4):")
    for row in summary["confusion_matrix"]:
        print("  " + " ".join(f"{count:4d}" for count in row))


if __name__ == "__main__":
    main()
