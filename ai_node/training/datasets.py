"""The labelled fundus sets in ../shared/data, read and split for training.

Rules applied here, once, for every run:

- rows flagged ``dup_label_conflict=1`` (contradictory grades on identical
  photographs) are dropped;
- fundus-dr600 is split by patient, never by image (fellow eyes correlate);
- IDRiD's official test split is ``test`` and never reaches training or model
  selection; its training images are split by exact-duplicate group;
- APTOS 2019's suggested test split is held out; its train and val images
  all train, because model selection is done on raw colour photographs
  (fundus-dr600 and IDRiD), the kind the node serves. Its images carry the
  Graham filter already (``already_filtered``).
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

TRAIN, VAL, TEST = "train", "val", "test"
DR600, IDRID, APTOS = "fundus-dr600", "idrid-grading", "aptos2019-gauss224"
ALL_SETS = (DR600, IDRID, APTOS)


@dataclass(frozen=True)
class Record:
    """One labelled image: its path, ICDR grade (0-4), origin and split."""

    path: Path
    grade: int
    source: str
    split: str
    already_filtered: bool = False


def read_rows(csv_path: Path) -> list[dict[str, str]]:
    """The rows of a labels CSV, without label-conflict rows."""
    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [row for row in rows if row.get("dup_label_conflict", "0") not in ("1", "True")]


def split_groups(groups: Iterable[str], val_fraction: float, seed: int) -> dict[str, str]:
    """Assign each distinct group to ``train`` or ``val`` (seeded, reproducible)."""
    unique = sorted(set(groups))
    random.Random(seed).shuffle(unique)
    n_val = round(len(unique) * val_fraction)
    return {group: (VAL if i < n_val else TRAIN) for i, group in enumerate(unique)}


def load_dr600(root: Path, val_fraction: float, seed: int) -> list[Record]:
    """fundus-dr600, split by ``patient_id``."""
    rows = read_rows(root / "labels.csv")
    splits = split_groups((row["patient_id"] for row in rows), val_fraction, seed)
    return [Record(root / row["file"], int(row["icdr_grade"]), DR600, splits[row["patient_id"]])
            for row in rows]


def load_idrid(root: Path, val_fraction: float, seed: int) -> list[Record]:
    """IDRiD grading: official test held out; training images split by duplicate group."""
    rows = read_rows(root / "labels.csv")
    train_rows = [row for row in rows if row["official_split"] != TEST]
    splits = split_groups((row["original_md5"] for row in train_rows), val_fraction, seed)
    return [Record(root / row["file"], int(row["icdr_grade"]), IDRID,
                   TEST if row["official_split"] == TEST else splits[row["original_md5"]])
            for row in rows]


def load_aptos(root: Path) -> list[Record]:
    """APTOS 2019 (Graham-filtered, 224 px): its suggested test split held out, the rest trains."""
    return [Record(root / row["file"], int(row["icdr_grade"]), APTOS,
                   TEST if row["split_suggested"] == TEST else TRAIN, already_filtered=True)
            for row in read_rows(root / "labels.csv")]


def load_records(data_root: Path, sets: Iterable[str], val_fraction: float,
                 seed: int) -> list[Record]:
    """Every record of the named sets under ``data_root``; missing sets raise FileNotFoundError."""
    records: list[Record] = []
    for name in sets:
        root = data_root / name
        if not (root / "labels.csv").is_file():
            raise FileNotFoundError(f"no labels.csv under {root}")
        if name == DR600:
            records += load_dr600(root, val_fraction, seed)
        elif name == IDRID:
            records += load_idrid(root, val_fraction, seed)
        elif name == APTOS:
            records += load_aptos(root)
        else:
            raise ValueError(f"unknown data set {name!r}; known: {', '.join(ALL_SETS)}")
    return records
