"""Cropped and resized training images, decoded once and kept on disk.

Decoding a JPEG, cropping the fundus and resizing it with Lanczos is the
costly part of preparing an image, and it is the same in every run at one
input size; the Graham filter is not, because colour, blur and compression
augmentation must come *before* it (the filter is what the model is taught
to be indifferent through). So the cache holds each image after
:func:`~ai_node.model.preprocessing.crop_fundus` and
:func:`~ai_node.model.preprocessing.resize` only, and
:func:`~ai_node.model.preprocessing.graham_filter` is applied per batch: for a
validation image that is exactly :func:`~ai_node.model.preprocessing.prepare_fundus`,
the serving path. Images that carry the filter already (APTOS) are only resized.

One ``.npy`` per set and size under the cache folder, with the list of files
it holds; a set whose records changed is prepared again. The cache is derived
from the data sets: keep it outside the project (``var/`` is ignored).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ai_node.model.preprocessing import crop_fundus, load_rgb, resize
from ai_node.training.datasets import Record


def prepare_unfiltered(record: Record, size: int) -> np.ndarray:
    """The fundus cropped, squared and resized; the filter is left for later."""
    rgb = load_rgb(record.path)
    if record.already_filtered:
        return resize(rgb, size)
    return resize(crop_fundus(rgb), size)


def _load_set(records: Sequence[Record], size: int, folder: Path | None,
              workers: int) -> np.ndarray:
    """One set's images; those the cache lacks are prepared and added to it."""
    def prepare(missing: Sequence[Record]) -> np.ndarray:
        with ThreadPoolExecutor(workers) as pool:
            return np.stack(list(pool.map(lambda r: prepare_unfiltered(r, size), missing)))

    if folder is None:
        return prepare(records)
    stem = folder / f"{records[0].source}-{size}"
    files: list[str] = []
    cached = np.zeros((0, size, size, 3), np.uint8)
    if stem.with_suffix(".json").is_file() and stem.with_suffix(".npy").is_file():
        files = json.loads(stem.with_suffix(".json").read_text())["files"]
        cached = np.load(stem.with_suffix(".npy"), mmap_mode="r")
    index = {name: i for i, name in enumerate(files)}
    missing = [r for r in records if str(r.path) not in index]
    if missing:
        cached = np.concatenate([cached, prepare(missing)])
        files += [str(r.path) for r in missing]
        index = {name: i for i, name in enumerate(files)}
        folder.mkdir(parents=True, exist_ok=True)
        # The images first, then the list that names them: a run killed in between
        # leaves a list that is still a prefix of the images.
        partial = folder / f"{stem.name}.partial.npy"
        np.save(partial, cached)
        partial.replace(stem.with_suffix(".npy"))
        stem.with_suffix(".json").write_text(json.dumps({"files": files, "size": size}) + "\n")
    return np.asarray(cached[[index[str(r.path)] for r in records]])


def unfiltered_images(records: Sequence[Record], size: int, folder: Path | None = None,
                      workers: int | None = None) -> np.ndarray:
    """``uint8 (n, size, size, 3)`` images in ``records`` order, cached where possible."""
    by_source: dict[str, list[int]] = defaultdict(list)
    for index, record in enumerate(records):
        by_source[record.source].append(index)
    out = np.zeros((len(records), size, size, 3), np.uint8)
    for indices in by_source.values():
        subset = [records[i] for i in indices]
        out[indices] = _load_set(subset, size, folder, workers or os.cpu_count() or 2)
    return out
