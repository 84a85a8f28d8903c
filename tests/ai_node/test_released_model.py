"""The model the repository ships: intact, served faithfully, and grading real photographs.

Real photographs come from ../shared/data; where it is absent, the checks that
need them are skipped and the rest run on a synthetic fundus.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras", reason="the [ai] extra (tensorflow-cpu) is not installed")

from ai_node import metrics  # noqa: E402
from ai_node.model.grader import referable_probability  # noqa: E402
from ai_node.model.preprocessing import load_rgb, preprocess  # noqa: E402
from ai_node.model.runtime import KerasGrader, TFLiteGrader  # noqa: E402
from ai_node.registry import Registry  # noqa: E402
from tests.ai_node.conftest import synthetic_fundus  # noqa: E402

MODELS = Path(__file__).resolve().parents[2] / "models"
IDRID = Path(__file__).resolve().parents[3] / "shared" / "data" / "idrid-grading"
#: IDRiD test photographs graded here: enough for a meaningful AUC, quick on a CPU.
SAMPLE = 40


@pytest.fixture(scope="module")
def entry():  # type: ignore[no-untyped-def]
    return Registry(MODELS).active("dr-grader")


def _idrid_test_sample() -> list[tuple[Path, int]]:
    if not (IDRID / "labels.csv").is_file():
        pytest.skip(f"no real photographs at {IDRID}")
    with open(IDRID / "labels.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle)
                if row["official_split"] == "test" and row["dup_label_conflict"] != "1"]
    return [(IDRID / row["file"], int(row["icdr_grade"])) for row in rows[:SAMPLE]]


def test_the_active_model_files_are_those_registered(entry) -> None:  # type: ignore[no-untyped-def]
    for name, digest in entry.metadata["files"].items():
        assert hashlib.sha256((entry.path / name).read_bytes()).hexdigest() == digest
    served_input = keras.models.load_model(entry.keras_path, compile=False).input_shape
    assert served_input[1:3] == (entry.input_size, entry.input_size)
    assert 0 < entry.operating_point < 1
    assert entry.metadata["evaluations"]["idrid-test"]["images"] > 100


def test_the_served_tflite_file_matches_keras(entry) -> None:  # type: ignore[no-untyped-def]
    images = [synthetic_fundus(512, seed=1)]
    if (IDRID / "labels.csv").is_file():
        images += [load_rgb(path) for path, _ in _idrid_test_sample()[:3]]
    batch = np.stack([preprocess(image, entry.input_size) for image in images])
    keras_probabilities, keras_maps = KerasGrader(entry.keras_path).predict_with_maps(batch)
    probabilities, maps = TFLiteGrader(entry.served_path).predict_with_maps(batch)
    np.testing.assert_allclose(probabilities, keras_probabilities, atol=1e-5)
    np.testing.assert_allclose(maps, keras_maps, atol=1e-3)
    cells = entry.input_size // 32  # EfficientNet's last feature map: stride 32
    assert maps.shape == (len(images), cells, cells, 5)


def test_the_model_tells_referable_retinopathy_on_held_out_photographs(
        entry) -> None:  # type: ignore[no-untyped-def]
    """IDRiD's official test split never reached training or model selection."""
    sample = _idrid_test_sample()
    grader = TFLiteGrader(entry.served_path)
    batch = np.stack([preprocess(load_rgb(path), entry.input_size) for path, _ in sample])
    grades = np.array([grade for _, grade in sample])
    score = referable_probability(grader.predict(batch))
    assert metrics.roc_auc(grades >= 2, score) > 0.75
