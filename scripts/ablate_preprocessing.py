"""Which preprocessing makes fundus photographs from different sources look alike?

    python scripts/ablate_preprocessing.py [--data-root ../shared/data] [--odir-root DIR]

Compares candidate preprocessings, each applied after the same fundus crop and
resize, through the ImageNet EfficientNet-Lite0 (frozen, pooled 1280-d
features; needs ``var/weights/efficientnet_lite0_imagenet.keras``):

- ``none``: the cropped photograph as it is;
- ``graham``: Ben Graham's local-average subtraction (the node's preprocessing);
- ``equalise``: per-channel histogram equalisation (what eyepacs-equalized256 did
  upstream).

Two measures, both about *style*, not about how well a trained grader does:

1. Pair agreement: eyepacs-raw400 and eyepacs-equalized256 hold the same eyes in two
   styles. The cosine similarity of each pair's features, against that of random
   pairs of different eyes: a preprocessing that removes style brings a pair
   together more than it brings strangers together (reported as the ratio of the
   mean pair similarity gap to the spread of stranger similarities).
2. Transfer of a linear probe: a logistic regression for referable DR (grade >= 2)
   fitted on the features of the equalised EyePACS training photographs only, then
   scored (AUC) on raw colour photographs of other sources and cameras (eyepacs-raw400
   val/test eyes, fundus-dr600, IDRiD, ODIR-5K validation eyes): how much of what is
   learnt on one style carries to raw photographs.

Prints one table; nothing is written into the project.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ai_node.metrics import roc_auc  # noqa: E402
from ai_node.model.preprocessing import crop_fundus, graham_filter, load_rgb, normalise, \
    resize  # noqa: E402
from ai_node.training.datasets import (DR600, EYEPACS_EQ, EYEPACS_RAW, IDRID,  # noqa: E402
                                       ODIR, TRAIN, VAL, Record, load_records)

SIZE = 224


def equalise(rgb: np.ndarray) -> np.ndarray:
    """Per-channel histogram equalisation inside the fundus (black surround kept)."""
    mask = rgb.mean(axis=2) > 15
    out = np.stack([np.asarray(ImageOps.equalize(Image.fromarray(rgb[..., c]),
                                                 Image.fromarray(mask.astype(np.uint8) * 255)))
                    for c in range(3)], axis=2)
    return np.where(mask[..., None], out, 0).astype(np.uint8)


PREPROCESSINGS = {"none": lambda rgb: rgb, "graham": graham_filter, "equalise": equalise}


def base(record: Record) -> np.ndarray:
    return resize(crop_fundus(load_rgb(record.path)), SIZE)


def features(model: object, images: list[np.ndarray]) -> np.ndarray:
    out = []
    for i in range(0, len(images), 64):
        batch = normalise(np.stack(images[i:i + 64]))
        out.append(np.asarray(model.predict_on_batch(batch)))  # type: ignore[attr-defined]
    return np.concatenate(out)


def fit_probe(x: np.ndarray, y: np.ndarray, l2: float = 1.0) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression (L-BFGS) on standardised features."""
    from scipy.optimize import minimize

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ w[:-1] + w[-1]
        p = 1 / (1 + np.exp(-z))
        eps = 1e-9
        value = -np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)) \
            + l2 * np.sum(w[:-1] ** 2) / len(y)
        grad = np.append(x.T @ (p - y) / len(y) + 2 * l2 * w[:-1] / len(y), np.mean(p - y))
        return float(value), grad

    w = minimize(loss, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B",
                 options={"maxiter": 500}).x
    return w[:-1], float(w[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--odir-root", type=Path, default=Path("var/data/odir"))
    parser.add_argument("--train-images", type=int, default=2000)
    parser.add_argument("--weights", type=Path,
                        default=Path("var/weights/efficientnet_lite0_imagenet.keras"))
    args = parser.parse_args()
    import keras

    imagenet = keras.models.load_model(args.weights, compile=False)
    model = keras.Model(imagenet.input, imagenet.get_layer("avg_pool").output)
    sets = [DR600, IDRID, EYEPACS_EQ, EYEPACS_RAW]
    roots = {}
    if (args.odir_root / "labels.csv").is_file():
        sets.append(ODIR)
        roots[ODIR] = args.odir_root
    records = load_records(args.data_root, sets, 0.15, 2024, roots)
    rng = np.random.default_rng(0)
    eq_train = [r for r in records if r.source == EYEPACS_EQ and r.split == TRAIN]
    eq_train = [eq_train[i] for i in sorted(rng.choice(len(eq_train), args.train_images,
                                                       replace=False))]
    raw = {r.path.name: r for r in records if r.source == EYEPACS_RAW}
    eq = {r.path.name: r for r in records if r.source == EYEPACS_EQ}
    pairs = sorted(set(raw) & set(eq))
    targets = {
        "eyepacs-raw400 val+test": [r for r in raw.values() if r.split != TRAIN],
        "fundus-dr600": [r for r in records if r.source == DR600],
        "idrid-grading": [r for r in records if r.source == IDRID],
    }
    if ODIR in sets:
        targets["odir val"] = [r for r in records if r.source == ODIR and r.split == VAL]
    print(f"{len(eq_train)} equalised training photographs, {len(pairs)} style pairs, "
          + ", ".join(f"{k}: {len(v)}" for k, v in targets.items()), flush=True)
    cache: dict[Path, np.ndarray] = {}

    def cropped(record: Record) -> np.ndarray:
        if record.path not in cache:
            cache[record.path] = base(record)
        return cache[record.path]

    rows = []
    for name, prepare in PREPROCESSINGS.items():
        started = time.time()

        def embed(chosen: list[Record]) -> np.ndarray:
            return features(model, [prepare(cropped(r)) for r in chosen])  # noqa: B023

        a, b = embed([raw[p] for p in pairs]), embed([eq[p] for p in pairs])
        a /= np.linalg.norm(a, axis=1, keepdims=True)
        b /= np.linalg.norm(b, axis=1, keepdims=True)
        same = (a * b).sum(axis=1)
        strangers = (a * np.roll(b, 7, axis=0)).sum(axis=1)
        separation = (same.mean() - strangers.mean()) / strangers.std()
        x_train = embed(eq_train)
        mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-6
        y_train = np.array([r.grade >= 2 for r in eq_train], float)
        w, bias = fit_probe((x_train - mean) / std, y_train)
        aucs = {}
        for target, chosen in targets.items():
            x = (embed(chosen) - mean) / std
            aucs[target] = roc_auc(np.array([r.grade >= 2 for r in chosen]), x @ w + bias)
        rows.append((name, same.mean(), strangers.mean(), separation, aucs))
        print(f"{name}: done in {time.time() - started:.0f} s", flush=True)
    header = ["preprocessing", "pair cos", "stranger cos", "pair separation"] + list(targets)
    print("| " + " | ".join(header) + " |")
    print("|---" * len(header) + "|")
    for name, pair, stranger, separation, aucs in rows:
        print(f"| {name} | {pair:.3f} | {stranger:.3f} | {separation:.2f} | "
              + " | ".join(f"{aucs[t]:.3f}" for t in targets) + " |")


if __name__ == "__main__":
    main()
