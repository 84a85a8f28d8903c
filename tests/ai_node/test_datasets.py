"""Splits: conflicts dropped, patients kept whole, IDRiD's test split held out."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ai_node.training.datasets import (DR600, IDRID, TEST, TRAIN, VAL, load_records,
                                       split_groups)
from ai_node.training.feedback import load_feedback_records


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    _write(tmp_path / DR600 / "labels.csv", [
        {"file": f"images_512/p{p:03d}_{eye}.jpg", "patient_id": str(p), "eye": eye,
         "icdr_grade": str(p % 5)} for p in range(40) for eye in "LR"])
    _write(tmp_path / IDRID / "labels.csv", [
        {"file": f"images_512/idrid_{split}_{i:03d}.jpg", "icdr_grade": str(i % 5),
         "official_split": split, "original_md5": f"{split}{i}",
         "dup_label_conflict": "1" if i == 3 else "0"}
        for split in (TRAIN, TEST) for i in range(20)])
    return tmp_path


def test_patients_never_straddle_splits(data_root: Path) -> None:
    records = load_records(data_root, [DR600], 0.25, seed=7)
    split_of: dict[str, set[str]] = {}
    for record in records:
        split_of.setdefault(record.path.name.split("_")[0], set()).add(record.split)
    assert all(len(splits) == 1 for splits in split_of.values())
    assert {r.split for r in records} == {TRAIN, VAL}


def test_idrid_test_split_stays_test_and_conflicts_go(data_root: Path) -> None:
    records = load_records(data_root, [IDRID], 0.2, seed=7)
    assert len(records) == 38
    tests = [r for r in records if "test" in r.path.name]
    assert {r.split for r in tests} == {TEST}
    assert all(r.split in (TRAIN, VAL) for r in records if "train" in r.path.name)


def test_splits_are_reproducible() -> None:
    groups = [str(i) for i in range(50)]
    assert split_groups(groups, 0.2, 1) == split_groups(groups, 0.2, 1)
    assert sum(v == VAL for v in split_groups(groups, 0.2, 1).values()) == 10


def test_missing_set_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_records(tmp_path, [DR600], 0.2, 1)


def test_feedback_rows_join_training(tmp_path: Path) -> None:
    _write(tmp_path / "feedback.csv", [{"file": "a.jpg", "icdr_grade": "3", "split": ""}])
    (record,) = load_feedback_records([tmp_path / "feedback.csv"])
    assert (record.grade, record.split, record.path) == (3, TRAIN, tmp_path / "a.jpg")
    _write(tmp_path / "bad.csv", [{"file": "a.jpg", "icdr_grade": "7"}])
    with pytest.raises(ValueError):
        load_feedback_records([tmp_path / "bad.csv"])


def test_no_retinopathy_means_no_diabetic_oedema_where_a_set_does_not_grade_it() -> None:
    from ai_node.training.datasets import Record, absent_oedema_without_retinopathy

    records = [Record(Path("a"), 0, "odir", TRAIN), Record(Path("b"), 2, "odir", TRAIN),
               Record(Path("c"), 0, IDRID, TRAIN, dme=1)]
    inferred = absent_oedema_without_retinopathy(records)
    assert [r.dme for r in inferred] == [0, None, 1]  # graded labels are never overwritten
