"""A training run end to end on a few synthetic images: outputs, config, held-out test."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

keras = pytest.importorskip("keras", reason="the [ai] extra (tensorflow-cpu) is not installed")

from ai_node.training import train  # noqa: E402
from ai_node.training.datasets import DR600  # noqa: E402
from tests.ai_node.conftest import write_image_set  # noqa: E402


def test_a_tiny_run_saves_model_config_and_history(tmp_path: Path) -> None:
    root = tmp_path / "data" / DR600
    rows = write_image_set(root, 12, size=64)
    with open(root / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "patient_id", "icdr_grade"])
        writer.writerows([(name, i // 2, grade) for i, (name, grade) in enumerate(rows)])
    out = tmp_path / "run"
    train.main(["--data-root", str(tmp_path / "data"), "--out-dir", str(out), "--sets", DR600,
                "--imagenet-model", "none", "--input-size", "32", "--batch-size", "4",
                "--head-epochs", "1", "--finetune-epochs", "1", "--val-fraction", "0.34"])
    saved = json.loads((out / "config.json").read_text())
    assert saved["config"]["seed"] == 2024 and saved["config"]["input_size"] == 32
    assert sum(saved["val_counts"].values()) == 4 and "code_revision" in saved
    assert (out / "model.keras").is_file() and (out / "val_predictions.csv").is_file()
    with open(out / "history.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 2


def test_class_weights_favour_rare_grades() -> None:
    import numpy as np

    grades = np.array([0] * 8 + [1, 2, 2, 3])
    weights = train.class_weights(grades, power=1.0)
    assert weights[1] > weights[2] > weights[0] and weights[4] == 0
    assert weights[grades].mean() == pytest.approx(1.0)


def _dr600_with_oedema(root: Path) -> None:
    rows = write_image_set(root, 12, size=64)
    with open(root / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "patient_id", "icdr_grade", "maculopathy"])
        writer.writerows([(name, i // 2, grade, "" if i % 3 == 0 else i % 2)
                          for i, (name, grade) in enumerate(rows)])


def test_a_run_cut_short_resumes_where_it_stopped(tmp_path: Path) -> None:
    """A budget ends the first piece after one epoch; --resume runs the two left, no more."""
    _dr600_with_oedema(tmp_path / "data" / DR600)
    out = tmp_path / "run"
    common = ["--data-root", str(tmp_path / "data"), "--out-dir", str(out), "--sets", DR600,
              "--imagenet-model", "none", "--input-size", "32", "--batch-size", "4",
              "--head-epochs", "1", "--finetune-epochs", "2", "--val-fraction", "0.34",
              "--cache-dir", str(tmp_path / "cache")]
    train.main(common + ["--max-seconds", "0.001"])
    state = json.loads((out / "state.json").read_text())
    assert state["epochs_done"] == 1 and state["finished"] is False
    assert (out / "checkpoint.keras").is_file()
    train.main(common + ["--resume"])
    state = json.loads((out / "state.json").read_text())
    assert state["epochs_done"] == 3 and state["finished"] is True
    assert [h["epoch"] for h in state["history"]] == [1.0, 2.0, 3.0]
    saved = json.loads((out / "config.json").read_text())
    assert saved["train_dme_graded"] > 0 and saved["finished"] is True
    with open(out / "val_predictions.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and all(0 <= float(r["p_referable"]) <= 1 and r["p_dme"] for r in rows)
    grader = keras.models.load_model(out / "model.keras", compile=False)
    assert set(grader.output_names) == {"probabilities", "dme"}
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1  # one set, one cached array
