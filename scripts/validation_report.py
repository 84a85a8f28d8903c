"""Score a grader on the pooled raw colour validation photographs, per source.

::

    python scripts/validation_report.py --model var/training/v2.1/release/384/model.tflite \
        --odir-root var/data/odir [--threshold T] [--bar RELEASE_BAR.json] [--json OUT]

Reads the validation split the training recipe holds out (same patient-level split,
same seed and fraction), runs it through the given model file (a served ``.tflite``
by default: what the node serves) with the node's preprocessing, and prints, per raw
colour source and pooled: images, referable AUC, sensitivity and specificity at the
threshold, QWK and, where the source grades oedema, DME AUC. These are validation
figures, for release decisions written down before any test image is scored; they
are never a substitute for the held-out figures.

``--bar`` names a JSON file of minimums, e.g.
``{"pooled": {"referable_auc": 0.846}, "idrid-grading": {"quadratic_weighted_kappa": 0.80}}``;
the script then says, per line, whether the model clears it, and exits 1 when not.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from ai_node.evaluate import Predictions, summarise
from ai_node.model.preprocessing import load_rgb, preprocess
from ai_node.model.runtime import load_grader
from ai_node.training.config import TrainConfig
from ai_node.training.datasets import ODIR, RAW_COLOUR, VAL, Record, load_records

FIGURES = ("referable_auc", "referable_sensitivity", "referable_specificity",
           "quadratic_weighted_kappa", "dme_auc")


def predictions(model: Path, records: list[Record]) -> Predictions:
    """The grader's outputs on ``records``, read as :mod:`ai_node.evaluate` reads them."""
    grader = load_grader(model)
    probabilities, dme = [], []
    for record in records:
        outputs = grader.predict_outputs(preprocess(load_rgb(record.path), grader.input_size,
                                                    record.already_filtered)[None])
        probabilities.append(outputs.probabilities[0])
        if outputs.dme is not None:
            dme.append(float(outputs.dme[0]))
    return Predictions(
        [str(r.path) for r in records], np.array([r.grade for r in records]),
        np.array(probabilities), np.array([r.referable for r in records]),
        np.array(dme) if dme else None,
        np.array([-1 if r.dme is None else r.dme for r in records]))


def subset(p: Predictions, keep: np.ndarray) -> Predictions:
    """The predictions of the images where ``keep`` is true."""
    return Predictions([f for f, k in zip(p.files, keep) if k], p.truth[keep],
                       p.probabilities[keep],
                       None if p.referable_truth is None else p.referable_truth[keep],
                       None if p.dme is None else p.dme[keep],
                       None if p.dme_truth is None else p.dme_truth[keep])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help=".tflite or .keras file")
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--odir-root", type=Path, help="staged ODIR-5K (README-odir.md)")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--bar", type=Path, help="JSON of minimum figures per source")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--bootstrap", type=int, default=200)
    args = parser.parse_args(argv)

    config = TrainConfig()
    sets = [name for name in RAW_COLOUR if name != ODIR or args.odir_root]
    roots = {ODIR: args.odir_root} if args.odir_root else None
    records = [r for r in load_records(args.data_root, sets, config.val_fraction, config.seed,
                                       roots) if r.split == VAL]
    pooled = predictions(args.model, records)
    sources = np.array([r.source for r in records])
    report: dict[str, dict[str, float]] = defaultdict(dict)
    for name, keep in [("pooled", np.ones(len(records), bool))] + [
            (s, sources == s) for s in sets]:
        summary = summarise(subset(pooled, keep), args.threshold, args.bootstrap)
        report[name]["images"] = summary["images"]
        for figure in FIGURES:
            if figure in summary:
                report[name][figure] = round(summary[figure]["value"], 4)
    bar = json.loads(args.bar.read_text()) if args.bar else {}
    cleared = True
    print(f"{args.model} at threshold {args.threshold}")
    for name, figures in report.items():
        words = ", ".join(f"{key} {value}" for key, value in figures.items())
        misses = [f"{key} {figures.get(key)} < {least}" for key, least in bar.get(name, {}).items()
                  if figures.get(key, float("-inf")) < least]
        cleared = cleared and not misses
        verdict = ("" if name not in bar else
                   "  [bar cleared]" if not misses else f"  [misses: {'; '.join(misses)}]")
        print(f"{name:>22}: {words}{verdict}")
    if args.json:
        args.json.write_text(json.dumps({"model": str(args.model), "threshold": args.threshold,
                                         "figures": report, "bar": bar}, indent=2) + "\n")
    return 0 if cleared else 1


if __name__ == "__main__":
    sys.exit(main())
