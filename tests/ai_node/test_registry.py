"""Registry, served TFLite runtime and evaluation CLI, on tiny models in temp folders."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras", reason="the [ai] extra (tensorflow-cpu) is not installed")

from ai_node import evaluate, registry  # noqa: E402
from ai_node.model.runtime import KerasGrader, TFLiteGrader  # noqa: E402
from ai_node.model.serving import REIMAGE, grade_photograph, load_active  # noqa: E402
from tests.ai_node.conftest import synthetic_fundus, write_image_set  # noqa: E402

SIZE = 32


def tiny_model(path: Path, seed: int) -> Path:
    """A small five-grade classifier with the grader's layer names: plumbing, not medicine."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu", name="head_relu6")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(5, name="logits")(x)
    outputs = keras.layers.Softmax(name="probabilities")(x)
    keras.Model(inputs, outputs).save(path)
    return path


@pytest.fixture(scope="module")
def models_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    reg = registry.Registry(root)
    for version, seed in (("1.0.0", 1), ("1.1.0", 2)):
        keras_file = tiny_model(root.parent / f"{version}.keras", seed)
        reg.register("dr-grader", version, keras_file,
                     {"input_size": SIZE, "referable_threshold": 0.4})
    return root


def test_register_writes_model_export_card_and_metadata(models_root: Path) -> None:
    entry = registry.Registry(models_root).get("dr-grader", "1.0.0")
    for name in ("model.keras", "model.tflite", "metadata.json", "MODEL_CARD.md"):
        assert (entry.path / name).is_file()
    card = (entry.path / "MODEL_CARD.md").read_text()
    assert "Research and demonstration only" in card and entry.device_uid in card
    assert entry.metadata["files"]["model.tflite"]


def test_served_tflite_matches_keras(models_root: Path) -> None:
    entry = registry.Registry(models_root).get("dr-grader", "1.0.0")
    images = np.random.default_rng(0).uniform(-1, 1, (3, SIZE, SIZE, 3)).astype(np.float32)
    np.testing.assert_allclose(TFLiteGrader(entry.served_path).predict(images),
                               KerasGrader(entry.keras_path).predict(images), atol=1e-5)


def test_promote_rollback_and_device_uid(models_root: Path) -> None:
    reg = registry.Registry(models_root)
    with pytest.raises(registry.RegistryError):
        reg.active("dr-grader")
    reg.promote("dr-grader", "1.0.0")
    reg.promote("dr-grader", "1.1.0")
    newer = reg.active("dr-grader")
    assert newer.version == "1.1.0"
    assert reg.rollback("dr-grader").version == "1.0.0"
    assert reg.active("dr-grader").device_uid != newer.device_uid
    with pytest.raises(registry.RegistryError):
        reg.rollback("dr-grader")
    with pytest.raises(registry.RegistryError):
        reg.register("dr-grader", "1.0.0", newer.keras_path, {"input_size": SIZE})


def test_cli_lists_and_promotes(models_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry.main(["--root", str(models_root), "promote", "dr-grader", "1.1.0"])
    registry.main(["--root", str(models_root), "list"])
    out = capsys.readouterr().out
    assert "* dr-grader 1.1.0" in out and "  dr-grader 1.0.0" in out
    with pytest.raises(SystemExit):
        registry.main(["--root", str(models_root), "promote", "dr-grader", "9.9.9"])


def test_serving_names_the_model_and_refuses_ungradable(models_root: Path) -> None:
    registry.Registry(models_root).promote("dr-grader", "1.0.0")
    served = load_active(models_root, "dr-grader")
    result = grade_photograph(synthetic_fundus(), served)
    assert result.grade in range(5) and result.model_version == "1.0.0"
    assert abs(sum(result.probabilities) - 1) < 1e-4
    blank = grade_photograph(np.zeros((64, 64, 3), np.uint8), served)
    assert blank.grade is None and blank.recommendation == REIMAGE


def test_evaluate_cli_writes_metrics_and_plots(models_root: Path, tmp_path: Path) -> None:
    rows = write_image_set(tmp_path, 12)
    with open(tmp_path / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "icdr_grade", "official_split"])
        writer.writerows([(name, grade, "test") for name, grade in rows])
        writer.writerow(["images/img_000.jpg", 4, "train"])
    out = tmp_path / "eval" / "metrics.json"
    evaluate.main(["--images", str(tmp_path), "--labels", str(tmp_path / "labels.csv"),
                   "--json", str(out), "--registry", str(models_root),
                   "--where", "official_split=test", "--bootstrap", "50"])
    summary = json.loads(out.read_text())
    assert summary["images"] == 12 and summary["referable_threshold"] == 0.4
    low, high = summary["referable_auc"]["ci95"]
    assert low <= summary["referable_auc"]["value"] <= high
    assert sum(map(sum, summary["confusion_matrix"])) == 12
    assert all(Path(p).stat().st_size > 1000 for p in summary["plots"])


def test_recorded_evaluation_reaches_the_card(models_root: Path, tmp_path: Path) -> None:
    result = {"images": 7, "command": "python -m ai_node.evaluate --images X",
              "quadratic_weighted_kappa": {"value": 0.5, "ci95": [0.4, 0.6]}}
    (tmp_path / "e.json").write_text(json.dumps(result))
    registry.main(["--root", str(models_root), "record-evaluation", "dr-grader", "1.1.0",
                   f"idrid-test={tmp_path / 'e.json'}"])
    card = (models_root / "dr-grader" / "1.1.0" / "MODEL_CARD.md").read_text()
    assert "| idrid-test | 7 | 0.500 (0.400-0.600)" in card
    assert "python -m ai_node.evaluate --images X" in card


def test_a_card_names_the_grader_a_version_was_continued_from() -> None:
    from ai_node.model_card import render_model_card

    training = {"config": {"sets": ["idrid-grading"], "input_size": 384,
                           "init_model": "models/dr-grader/1.0.0/model.keras"}}
    card = render_model_card({"name": "dr-grader", "version": "1.1.0", "input_size": 384,
                              "training": training})
    assert "- idrid-grading: Porwal P." in card
    assert "- continued from models/dr-grader/1.0.0/model.keras (head included)" in card
    assert "continued from" not in render_model_card(
        {"name": "dr-grader", "version": "1.0.0", "input_size": 224,
         "training": {"config": {"sets": ["idrid-grading"]}}})


def test_evaluate_scores_oedema_and_the_combined_referable_probability(tmp_path: Path) -> None:
    """A grader with a DME output: p_referable per image, DME scored where the CSV grades it."""
    keras.utils.set_random_seed(9)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu", name="head_relu6")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    grades = keras.layers.Softmax(name="probabilities")(keras.layers.Dense(5, name="logits")(x))
    dme = keras.layers.Dense(1, activation="sigmoid", name="dme")(x)
    keras.Model(inputs, {"probabilities": grades, "dme": dme}).save(tmp_path / "g.keras")
    rows = write_image_set(tmp_path, 10)
    with open(tmp_path / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "icdr_grade", "dme_risk"])
        writer.writerows([(name, grade, "" if i == 0 else i % 3)
                          for i, (name, grade) in enumerate(rows)])
        writer.writerow(["images/ungraded.jpg", "", ""])  # no grade: left out, never read
    out = tmp_path / "eval" / "metrics.json"
    evaluate.main(["--images", str(tmp_path), "--labels", str(tmp_path / "labels.csv"),
                   "--json", str(out), "--model", str(tmp_path / "g.keras"),
                   "--threshold", "0.5", "--bootstrap", "20"])
    summary = json.loads(out.read_text())
    assert summary["images"] == 10 and "dme_auc" in summary and "dme_sensitivity" in summary
    with open(out.with_suffix(".predictions.csv")) as handle:
        predicted = list(csv.DictReader(handle))
    for row, (name, grade) in zip(predicted, rows):
        p_dr = sum(float(row[f"p{g}"]) for g in (2, 3, 4))
        expected = 1 - (1 - p_dr) * (1 - float(row["p_dme"]))
        assert float(row["p_referable"]) == pytest.approx(expected, abs=2e-6)
    # The reference: grade >= 2, or DME (dme_risk >= 1) where graded.
    assert [int(r["referable"]) for r in predicted] == [
        int(grade >= 2 or (i > 0 and i % 3 >= 1)) for i, (_, grade) in enumerate(rows)]


def test_card_of_an_oedema_grader_shows_generalisation_and_earlier_releases(
        tmp_path: Path) -> None:
    root = tmp_path / "models"
    reg = registry.Registry(root)
    reg.register("dr-grader", "1.0.0", tiny_model(tmp_path / "old.keras", 1), {"input_size": SIZE})
    reg.record_evaluation("dr-grader", "1.0.0", "idrid-test", {
        "images": 102, "quadratic_weighted_kappa": {"value": 0.775, "ci95": [0.7, 0.8]}})
    keras.utils.set_random_seed(2)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.GlobalAveragePooling2D()(
        keras.layers.Conv2D(4, 3, strides=2, activation="relu", name="head_relu6")(inputs))
    grades = keras.layers.Softmax(name="probabilities")(keras.layers.Dense(5, name="logits")(x))
    dme = keras.layers.Dense(1, activation="sigmoid", name="dme")(x)
    keras.Model(inputs, {"probabilities": grades, "dme": dme}).save(tmp_path / "new.keras")
    reg.register("dr-grader", "2.0.0", tmp_path / "new.keras",
                 {"input_size": SIZE, "referable_threshold": 0.3,
                  "operating_point_rule": "sensitivity >= 0.90 on pooled validation"})
    entry = reg.get("dr-grader", "2.0.0")
    assert entry.metadata["dme"] is True and reg.get("dr-grader", "1.0.0").metadata["dme"] is False
    registry.main(["--root", str(root), "record-evaluation", "dr-grader", "2.0.0",
                   "--held-out-source", f"odir={_write_json(tmp_path, 'odir.json')}"])
    card = (entry.path / "MODEL_CARD.md").read_text()
    assert "1 - P(grade < 2) * (1 - P(DME))" in card
    assert "sensitivity >= 0.90 on pooled validation" in card
    assert "## Generalisation: leave one source out" in card and "| odir | 6335 |" in card
    assert "| 1.0.0 | idrid-test | 102 | 0.775 |" in card


def _write_json(folder: Path, name: str) -> Path:
    result = {"images": 6335, "command": "python -m ai_node.evaluate --images ODIR",
              "referable_auc": {"value": 0.9, "ci95": [0.88, 0.92]}}
    (folder / name).write_text(json.dumps(result))
    return folder / name
