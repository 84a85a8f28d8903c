"""The GPU pack (preprocessed WebP, no test image) and training from it or from a trained grader."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ai_node.model.preprocessing import load_rgb, prepare_fundus
from ai_node.training.datasets import APTOS, DR600, IDRID, TEST, VAL, load_records
from ai_node.training.pack import PACK_FILE, VAL_LABELS, build_pack, check_pack, psnr
from tests.ai_node.conftest import synthetic_fundus

SETS = (DR600, IDRID, APTOS)


def _write_set(root: Path, rows: list[dict[str, str]], size: int = 96) -> None:
    for i, row in enumerate(rows):
        (root / row["file"]).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(synthetic_fundus(size, seed=i)).save(root / row["file"], quality=92)
    with open(root / "labels.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    _write_set(root / DR600, [
        {"file": f"images_512/p{p:03d}_{eye}.jpg", "patient_id": str(p), "eye": eye,
         "icdr_grade": str(p % 5)} for p in range(6) for eye in "LR"])
    _write_set(root / IDRID, [
        {"file": f"images_512/idrid_{split}_{i:03d}.jpg", "icdr_grade": str(i % 5),
         "official_split": split, "original_md5": f"{split}{i}",
         "dup_label_conflict": "1" if i == 2 else "0"}
        for split in ("train", TEST) for i in range(6)])
    _write_set(root / APTOS, [
        {"file": f"images/a{i}.jpg", "icdr_grade": str(i % 5),
         "split_suggested": TEST if i < 2 else "train", "dup_label_conflict": "0"}
        for i in range(6)], size=32)
    return root


def test_the_pack_is_preprocessed_splits_alike_and_holds_no_test_image(
        data_root: Path, tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    summary = build_pack(data_root, pack, size=32, val_fraction=0.34, seed=3,
                         photo_quality=80, filtered_quality=55, workers=2)
    original = [r for r in load_records(data_root, SETS, 0.34, 3) if r.split != TEST]
    packed = load_records(pack, SETS, 0.34, 3)
    assert summary["images"] == len(original) == len(packed) == 12 + 5 + 4
    assert all(r.split != TEST for r in packed)
    assert not list(pack.rglob("*test*"))

    def key(records):  # type: ignore[no-untyped-def]
        return sorted((r.source, r.path.stem, r.grade, r.split) for r in records)

    assert key(original) == key(packed)
    by_stem = {(r.source, r.path.stem): r for r in original}
    for record in packed:
        source = by_stem[(record.source, record.path.stem)]
        exact = prepare_fundus(load_rgb(source.path), 32, source.already_filtered)
        copy = load_rgb(record.path)
        if record.split == VAL:
            np.testing.assert_array_equal(copy, exact)
        else:
            assert copy.shape == exact.shape and psnr(exact, copy) > 18  # noisy synthetic fundi
    saved = json.loads((pack / PACK_FILE).read_text())
    assert saved["input_size"] == 32 and saved["quality"]["val"] == "lossless"
    with open(pack / VAL_LABELS, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == sum(r.split == VAL for r in original)
    assert all((data_root / row["file"]).is_file() for row in rows)
    check_pack(pack, 32)
    with pytest.raises(ValueError):
        check_pack(pack, 224)


keras = pytest.importorskip("keras", reason="the [ai] extra (tensorflow-cpu) is not installed")

from ai_node.training import train  # noqa: E402


def test_training_from_a_pack_and_from_a_trained_grader(data_root: Path, tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    build_pack(data_root, pack, size=32, val_fraction=0.34, seed=2024, workers=2)
    common = ["--data-root", str(pack), "--prefiltered", "--sets", *SETS, "--input-size", "32",
              "--batch-size", "4", "--val-fraction", "0.34", "--imagenet-model", "none"]
    first = tmp_path / "first"
    train.main([*common, "--out-dir", str(first), "--head-epochs", "1",
                "--finetune-epochs", "1"])
    assert json.loads((first / "config.json").read_text())["config"]["prefiltered"] is True
    second = tmp_path / "second"
    train.main([*common, "--out-dir", str(second), "--init-model", str(first / "model.keras"),
                "--head-epochs", "0", "--finetune-epochs", "3", "--finetune-warmup-epochs", "1",
                "--max-seconds", "0.001"])
    saved = json.loads((second / "config.json").read_text())
    first_saved = json.loads((first / "config.json").read_text())
    assert saved["epochs_run"] == 1 and saved["best_epoch"] in (0, 1)
    # epoch 0 is the loaded grader as it came: the first run's best, on the same images
    with open(second / "history.csv") as handle:
        history = list(csv.DictReader(handle))
    assert [float(row["epoch"]) for row in history] == [0.0, 1.0]
    assert float(history[0]["val_qwk"]) == pytest.approx(first_saved["best_val_qwk"])


def test_the_warm_up_rises_then_the_cosine_decays() -> None:
    schedule = train._finetune_schedule(1e-4, epochs=5, warmup_epochs=1, steps=10)
    rates = [float(schedule(step)) for step in (0, 5, 10, 30, 50)]
    assert rates[0] == 0 and rates[1] == pytest.approx(5e-5) and rates[2] == pytest.approx(1e-4)
    assert rates[2] > rates[3] > rates[4] == pytest.approx(0, abs=1e-9)
    no_warmup = train._finetune_schedule(1e-4, epochs=5, warmup_epochs=0, steps=10)
    assert float(no_warmup(0)) == pytest.approx(1e-4)
