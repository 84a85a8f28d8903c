"""Measure imaging_common.laterality on labelled photographs; prints figures, asserts nothing.

    .venv/bin/python scripts/laterality_check.py [--data ../shared/data] [--odir /work/odir]
        [--odir-every 5] [--odir-offset 2] [--min-confidence 0.9] [--fit]
        [--sets fundus-dr600 eyepacs-raw400 odir]

For every photograph with an eye label (L/R) in fundus-dr600, eyepacs-raw400
and (every ``--odir-every``-th, from ``--odir-offset``) the staged ODIR-5K set,
it runs :func:`estimate_laterality` and reports per set:

- abstained: no side, or a confidence under ``--min-confidence``;
- false alarm: a correctly labelled photograph that :func:`laterality_doubt`
  would flag (the estimate names the other eye with enough confidence);
- swap caught: the same photograph declared as the other eye, flagged;
- for sets with both eyes of a patient, how often the two photographs read
  as two different eyes (true whatever way a camera orients its pictures).

``--fit`` refits the logistic weights of ``_confidence`` on the ODIR images
chosen (use ``--odir-offset 0``; the figures of the README are measured on
offset 2, images the fit never saw). A missing set is skipped with a message.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from imaging_common import laterality  # noqa: E402


@dataclass(frozen=True)
class Reading:
    file: str
    patient: str
    eye: str
    side: str | None
    confidence: float
    disc_side: str | None
    features: tuple[float, float, float] | None


def read_one(task: tuple[str, str, str, str]) -> Reading:
    path, file, patient, eye = task
    evidence = laterality._measure(np.asarray(Image.open(path).convert("RGB")))
    estimate = laterality._estimate(evidence)
    if evidence is None:
        return Reading(file, patient, eye, None, 0.0, None, None)
    features = (evidence.disc_score - evidence.rival_score, abs(evidence.disc_x),
                abs(evidence.disc_y))
    return Reading(file, patient, eye, estimate.side, estimate.confidence,
                   "R" if evidence.disc_x > 0 else "L", features)


def labelled(folder: Path, every: int = 1, offset: int = 0) -> list[tuple[str, str, str, str]]:
    with open(folder / "labels.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("eye") in ("L", "R")]
    return [(str(folder / r["file"]), r["file"], r.get("patient_id") or "", r["eye"])
            for r in rows[offset::every]]


def report(name: str, readings: list[Reading], min_confidence: float) -> None:
    n = len(readings)
    sure = [r for r in readings if r.side is not None and r.confidence >= min_confidence]
    wrong = [r for r in sure if r.side != r.eye]
    print(f"{name}: {n} photographs; abstained {1 - len(sure) / n:.1%}; "
          f"right when answering {1 - len(wrong) / max(1, len(sure)):.1%}; "
          f"false alarm {len(wrong) / n:.1%}; swap caught {(len(sure) - len(wrong)) / n:.1%}")
    answered = [r for r in readings if r.side is not None]
    print(f"    any confidence: answered {len(answered) / n:.1%}, right "
          f"{sum(r.side == r.eye for r in answered) / max(1, len(answered)):.1%}")
    pairs: dict[str, dict[str, Reading]] = defaultdict(dict)
    for r in readings:
        if r.patient:
            pairs[r.patient][r.eye] = r
    both = [p for p in pairs.values() if len(p) == 2
            and all(r.side is not None and r.confidence >= min_confidence for r in p.values())]
    if both:
        apart = sum(p["R"].side != p["L"].side for p in both)
        as_labelled = sum(p["R"].side == "R" and p["L"].side == "L" for p in both)
        print(f"    patients with both eyes read: {len(both)}; read as two different eyes "
              f"{apart / len(both):.1%}; as labelled {as_labelled / len(both):.1%}, "
              f"both mirrored {(apart - as_labelled) / len(both):.1%}")
    for r in wrong[:12]:
        print(f"    flagged: {r.file} labelled {r.eye}, read {r.side} ({r.confidence:.2f})")


def fit(readings: list[Reading]) -> None:
    usable = [(r.features, r.disc_side == r.eye) for r in readings if r.features is not None]
    design = np.array([(1.0, min(f[0], 10.0), min(f[1], 0.7), f[2]) for f, _ in usable])
    target = np.array([float(right) for _, right in usable])
    weights = np.zeros(4)
    for _ in range(50):  # Newton's method on the log-likelihood, a touch of ridge
        p = 1 / (1 + np.exp(-design @ weights))
        hessian = (design * (p * (1 - p))[:, None]).T @ design + 1e-3 * np.eye(4)
        weights += np.linalg.solve(hessian, design.T @ (target - p))
    print("weights (intercept, margin, |x|, |y|):", tuple(round(float(w), 3) for w in weights))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("FOVEA_DATA", REPO.parent / "shared" / "data")))
    parser.add_argument("--odir", type=Path,
                        default=Path(os.environ.get("FOVEA_ODIR", "/work/odir")))
    parser.add_argument("--odir-every", type=int, default=5)
    parser.add_argument("--odir-offset", type=int, default=2)
    parser.add_argument("--min-confidence", type=float, default=laterality.DEFAULT_MIN_CONFIDENCE)
    parser.add_argument("--fit", action="store_true")
    parser.add_argument("--sets", nargs="+", default=["fundus-dr600", "eyepacs-raw400", "odir"],
                        help="which sets to read")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    sets = {"fundus-dr600": (args.data / "fundus-dr600", 1, 0),
            "eyepacs-raw400": (args.data / "eyepacs-raw400", 1, 0),
            "odir": (args.odir, args.odir_every, args.odir_offset)}
    sets = {name: sets[name] for name in (["odir"] if args.fit else args.sets)}
    with ProcessPoolExecutor(args.workers) as pool:
        for name, (folder, every, offset) in sets.items():
            if not (folder / "labels.csv").exists():
                print(f"{name}: not found at {folder}, skipped")
                continue
            readings = list(pool.map(read_one, labelled(folder, every, offset), chunksize=16))
            if args.fit:
                fit(readings)
            else:
                report(name, readings, args.min_confidence)


if __name__ == "__main__":
    main()
