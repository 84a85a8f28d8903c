"""A compact, faithful copy of the training data for a GPU machine.

::

    python -m ai_node.training.pack --out .devdata/pack [--data-root ../shared/data]
    python -m ai_node.training.train --data-root .devdata/pack --prefiltered ...

Every training and validation image goes through the serving preprocessing
(:func:`~ai_node.model.preprocessing.prepare_fundus`: crop, resize, Graham
filter) *here*, from the original files, and is stored as WebP: losslessly for
the validation images, so that model selection on the GPU sees exactly what
evaluation and the node see, and lossy at a chosen quality for the training
images. Compressing the photograph *before* the filter, as a first pack did,
lets the filter's x4 high-pass amplify the compression artefacts; compressing
its output does not. The pack records each group's size and its fidelity
(PSNR against the exactly preprocessed original) in ``PACK.json``.

Held-out test images (IDRiD's official test split, APTOS 2019's suggested test
split) never enter a pack; rows flagged as label conflicts are left out as
training leaves them out. Each set keeps its ``labels.csv`` columns, only
``file`` points at the packed image, so :func:`~ai_node.training.datasets.load_records`
splits a pack exactly as it splits the originals (same seed, same
``val_fraction``). ``val_labels.csv`` lists the validation images by their
original path under the data root, for ``python -m ai_node.evaluate``.
A pack is derived from the data sets: never commit it.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ai_node.model.preprocessing import load_rgb, prepare_fundus
from ai_node.training.datasets import ALL_SETS, TEST, VAL, Record, load_records, read_rows

PACK_FILE = "PACK.json"
VAL_LABELS = "val_labels.csv"
#: ``lossless``, or a WebP quality 1-100.
DEFAULT_VAL_QUALITY = "lossless"
DEFAULT_PHOTO_QUALITY = 85
DEFAULT_FILTERED_QUALITY = 60


def encode_webp(image: np.ndarray, quality: str | int) -> bytes:
    """``uint8`` RGB as WebP bytes: lossless, or lossy at ``quality``."""
    out = io.BytesIO()
    if quality == "lossless":
        Image.fromarray(image).save(out, "WEBP", lossless=True, exact=True, method=6)
    else:
        Image.fromarray(image).save(out, "WEBP", quality=int(quality), method=6)
    return out.getvalue()


def psnr(reference: np.ndarray, copy: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB; ``inf`` for identical images."""
    mse = float(np.mean((reference.astype(np.float64) - copy.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def packed_name(file: str) -> str:
    """``images_512/p002_L.jpg`` -> ``images_512/p002_L.webp``."""
    return str(Path(file).with_suffix(".webp"))


def _quality(record: Record, val_quality: str | int, photo_quality: int,
             filtered_quality: int) -> str | int:
    if record.split == VAL:
        return val_quality
    return filtered_quality if record.already_filtered else photo_quality


def present_sets(data_root: Path) -> tuple[str, ...]:
    """The known sets that ``data_root`` holds (ODIR-5K lives elsewhere, unless staged there)."""
    return tuple(name for name in ALL_SETS if (data_root / name / "labels.csv").is_file())


def build_pack(data_root: Path, out: Path, size: int = 224, sets: Sequence[str] | None = None,
               val_fraction: float = 0.15, seed: int = 2024,
               val_quality: str | int = DEFAULT_VAL_QUALITY,
               photo_quality: int = DEFAULT_PHOTO_QUALITY,
               filtered_quality: int = DEFAULT_FILTERED_QUALITY,
               workers: int | None = None) -> dict[str, Any]:
    """Write the pack under ``out``; returns (and saves as PACK.json) its summary.

    ``sets``: the named sets; None: every known set under ``data_root``.
    """
    sets = present_sets(data_root) if sets is None else tuple(sets)
    records = [r for r in load_records(data_root, sets, val_fraction, seed) if r.split != TEST]
    by_path = {r.path: r for r in records}

    def one(record: Record) -> tuple[int, float]:
        image = prepare_fundus(load_rgb(record.path), size, record.already_filtered)
        quality = _quality(record, val_quality, photo_quality, filtered_quality)
        data = encode_webp(image, quality)
        relative = record.path.relative_to(data_root / record.source)
        target = out / record.source / packed_name(str(relative))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        with Image.open(io.BytesIO(data)) as decoded:
            return len(data), psnr(image, np.asarray(decoded.convert("RGB")))

    with ThreadPoolExecutor(workers or os.cpu_count() or 2) as pool:
        results = dict(zip(records, pool.map(one, records)))
    for name in sets:
        rows = [row for row in read_rows(data_root / name / "labels.csv")
                if data_root / name / row["file"] in by_path]
        with open(out / name / "labels.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["file"])
            writer.writeheader()
            writer.writerows({**row, "file": packed_name(row["file"])} for row in rows)
    with open(out / VAL_LABELS, "w", newline="") as handle:
        writer_ = csv.writer(handle)
        writer_.writerow(["file", "icdr_grade", "source"])
        writer_.writerows([str(r.path.relative_to(data_root)), r.grade, r.source]
                          for r in records if r.split == VAL)
    groups: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for record, result in results.items():
        groups[f"{record.source}:{record.split}"].append(result)
    summary = {
        "input_size": size, "data_root": str(data_root), "sets": list(sets),
        "val_fraction": val_fraction, "seed": seed,
        "preprocessing": "ai_node.model.preprocessing.prepare_fundus, then WebP",
        "quality": {"val": val_quality, "train_photographs": photo_quality,
                    "train_already_filtered": filtered_quality},
        "groups": {key: {"images": len(values),
                         "bytes": sum(n for n, _ in values),
                         "mean_psnr_db": _mean_psnr([p for _, p in values]),
                         "min_psnr_db": _finite(min(p for _, p in values))}
                   for key, values in sorted(groups.items())},
        "bytes": sum(n for n, _ in results.values()),
        "images": len(results),
    }
    (out / PACK_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _finite(value: float) -> float | str:
    return "lossless" if math.isinf(value) else round(value, 2)


def _mean_psnr(values: list[float]) -> float | str:
    finite = [v for v in values if not math.isinf(v)]
    if not finite:
        return "lossless"
    return round(float(np.mean(finite)), 2)


def check_pack(root: Path, size: int) -> None:
    """Refuse a pack made for another input size (where ``root`` holds a PACK.json)."""
    path = root / PACK_FILE
    if path.is_file():
        packed = json.loads(path.read_text()).get("input_size")
        if packed != size:
            raise ValueError(f"{root} was packed at {packed} px, the run wants {size} px")


def _quality_arg(value: str) -> str | int:
    return value if value == "lossless" else int(value)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Pack preprocessed training data as WebP.")
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--sets", nargs="*", help="default: every known set under --data-root")
    parser.add_argument("--val-fraction", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--val-quality", type=_quality_arg, default=DEFAULT_VAL_QUALITY,
                        help="'lossless' or a WebP quality")
    parser.add_argument("--photo-quality", type=int, default=DEFAULT_PHOTO_QUALITY,
                        help="WebP quality of the raw photographs' training images")
    parser.add_argument("--filtered-quality", type=int, default=DEFAULT_FILTERED_QUALITY,
                        help="WebP quality of the already-filtered (APTOS) training images")
    args = parser.parse_args(argv)
    summary = build_pack(args.data_root, args.out, args.input_size, args.sets,
                         args.val_fraction, args.seed, args.val_quality, args.photo_quality,
                         args.filtered_quality)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
