"""The labelled fundus sets in ../shared/data, read and split for training.

Rules applied here, once, for every run:

- rows flagged ``dup_label_conflict=1`` (contradictory grades on identical
  photographs) are dropped;
- fundus-dr600 is split by patient, never by image (fellow eyes correlate);
- IDRiD's official test split is ``test`` and never reaches training or model
  selection; its training images are split by exact-duplicate group;
- APTOS 2019's suggested test split is held out; its train and val images
  all train, because model selection is done on raw colour photographs, the
  kind the node serves. Its images carry the Graham filter already
  (``already_filtered``);
- EyePACS (``eyepacs-equalized256``, histogram-equalised, and
  ``eyepacs-raw400``, the same eyes in raw colour) and ODIR-5K follow their
  patient-level ``split_suggested`` (train / val / test). The two EyePACS
  styles of one eye share that split by construction, so neither style of a
  validation or test eye ever trains. ODIR eyes without a DR stage
  (``exclude_reason``) are left out; eyes with other findings only (cataract,
  glaucoma, AMD, myopia, ...) are kept as grade 0: they are the negatives a
  screening programme meets;
- ODIR-5K is too large for ../shared/data and is staged elsewhere
  (README-odir.md); ``roots`` names its folder.

Macular oedema labels (``dme``: 1 present, 0 absent, None not graded) come
from IDRiD's ``dme_risk`` (>= 1 is present) and fundus-dr600's
``maculopathy``; every other set leaves them None, and training masks them.
:func:`absent_oedema_without_retinopathy` can add one inference: an eye graded
with no apparent retinopathy (ICDR 0) has no *diabetic* macular oedema, so its
DME label is 0 in every set. That shows the oedema head healthy eyes from
every camera, not only the two sets that grade oedema.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

TRAIN, VAL, TEST = "train", "val", "test"
DR600, IDRID, APTOS = "fundus-dr600", "idrid-grading", "aptos2019-gauss224"
EYEPACS_EQ, EYEPACS_RAW, ODIR = "eyepacs-equalized256", "eyepacs-raw400", "odir"
#: The sets before 2.0: what earlier releases were trained on.
LEGACY_SETS = (DR600, IDRID, APTOS)
ALL_SETS = (DR600, IDRID, APTOS, EYEPACS_EQ, EYEPACS_RAW, ODIR)
#: Sets of raw colour photographs, the kind the node serves; model selection and the
#: operating point are read on their validation images.
RAW_COLOUR = (DR600, IDRID, EYEPACS_RAW, ODIR)
#: Sets whose colours were transformed upstream (Graham filter, histogram equalisation).
PROCESSED = (APTOS, EYEPACS_EQ)


@dataclass(frozen=True)
class Record:
    """One labelled image: its path, ICDR grade (0-4), origin and split.

    ``dme`` is the macular-oedema label (1, 0) or None where the set does not grade it.
    """

    path: Path
    grade: int
    source: str
    split: str
    already_filtered: bool = False
    dme: int | None = None

    @property
    def referable(self) -> bool:
        """Moderate NPDR or worse, or referable DME."""
        return self.grade >= 2 or self.dme == 1


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


def _flag(value: str | None) -> int | None:
    """``"1"``/``"0"`` as 1/0; empty or missing as None (not graded)."""
    if value is None or value.strip() == "":
        return None
    return 1 if value.strip() in ("1", "True") else 0


def load_dr600(root: Path, val_fraction: float, seed: int) -> list[Record]:
    """fundus-dr600, split by ``patient_id``; ``maculopathy`` is its DME label."""
    rows = read_rows(root / "labels.csv")
    splits = split_groups((row["patient_id"] for row in rows), val_fraction, seed)
    return [Record(root / row["file"], int(row["icdr_grade"]), DR600, splits[row["patient_id"]],
                   dme=_flag(row.get("maculopathy")))
            for row in rows]


def load_idrid(root: Path, val_fraction: float, seed: int) -> list[Record]:
    """IDRiD grading: official test held out; training images split by duplicate group.

    DME is ``dme_risk >= 1``.
    """
    rows = read_rows(root / "labels.csv")
    train_rows = [row for row in rows if row["official_split"] != TEST]
    splits = split_groups((row["original_md5"] for row in train_rows), val_fraction, seed)

    def dme(row: dict[str, str]) -> int | None:
        risk = row.get("dme_risk", "").strip()
        return None if risk == "" else int(int(risk) >= 1)

    return [Record(root / row["file"], int(row["icdr_grade"]), IDRID,
                   TEST if row["official_split"] == TEST else splits[row["original_md5"]],
                   dme=dme(row))
            for row in rows]


def load_suggested(root: Path, source: str) -> list[Record]:
    """A set with a patient-level ``split_suggested`` column; ungraded rows left out."""
    return [Record(root / row["file"], int(row["icdr_grade"]), source, row["split_suggested"])
            for row in read_rows(root / "labels.csv")
            if row.get("icdr_grade", "").strip() and not row.get("exclude_reason", "").strip()]


def load_aptos(root: Path) -> list[Record]:
    """APTOS 2019 (Graham-filtered, 224 px): its suggested test split held out, the rest trains."""
    return [Record(root / row["file"], int(row["icdr_grade"]), APTOS,
                   TEST if row["split_suggested"] == TEST else TRAIN, already_filtered=True)
            for row in read_rows(root / "labels.csv")]


def absent_oedema_without_retinopathy(records: Iterable[Record]) -> list[Record]:
    """Records whose oedema is not graded get DME 0 where the eye shows no retinopathy."""
    return [replace(r, dme=0) if r.dme is None and r.grade == 0 else r for r in records]


def load_records(data_root: Path, sets: Iterable[str], val_fraction: float,
                 seed: int, roots: Mapping[str, Path] | None = None) -> list[Record]:
    """Every record of the named sets; missing sets raise FileNotFoundError.

    A set is read from ``roots[name]`` where given (ODIR-5K, staged outside
    ../shared/data), else from ``data_root / name``.
    """
    records: list[Record] = []
    for name in sets:
        root = (roots or {}).get(name, data_root / name)
        if not (root / "labels.csv").is_file():
            hint = " (stage it with ../shared/data/stage_odir.py)" if name == ODIR else ""
            raise FileNotFoundError(f"no labels.csv under {root}{hint}")
        if name == DR600:
            records += load_dr600(root, val_fraction, seed)
        elif name == IDRID:
            records += load_idrid(root, val_fraction, seed)
        elif name == APTOS:
            records += load_aptos(root)
        elif name in (EYEPACS_EQ, EYEPACS_RAW, ODIR):
            records += load_suggested(root, name)
        else:
            raise ValueError(f"unknown data set {name!r}; known: {', '.join(ALL_SETS)}")
    return records
