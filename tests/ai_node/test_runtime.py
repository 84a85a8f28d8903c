"""The served TFLite export of the real grader gives Keras's probabilities and maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras", reason="the [ai] extra (tensorflow-cpu) is not installed")

from ai_node.model.grader import build_grader, referable_probability, serving_model  # noqa: E402
from ai_node.model.heatmap import class_activation, map_to_photograph, overlay, \
    resize_map  # noqa: E402
from ai_node.model.runtime import KerasGrader, TFLiteGrader, export_tflite  # noqa: E402


def test_tflite_export_of_the_grader_matches_keras(tmp_path: Path) -> None:
    keras.utils.set_random_seed(3)
    model = build_grader(input_size=64)
    # Random batch-norm statistics, so that the comparison exercises every layer.
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            rng = np.random.default_rng(len(layer.name))
            layer.set_weights([gamma, beta, rng.normal(0, 0.1, mean.shape),
                               rng.uniform(0.5, 1.5, var.shape)])
    model.save(tmp_path / "grader.keras")
    served = TFLiteGrader(export_tflite(tmp_path / "grader.keras", tmp_path / "grader.tflite"))
    images = np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32)
    expected = KerasGrader(tmp_path / "grader.keras").predict(images)
    got = served.predict(images)
    assert served.input_size == 64
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(got.sum(axis=1), 1, atol=1e-5)
    assert referable_probability(got).shape == (2,)
    _, keras_maps = KerasGrader(tmp_path / "grader.keras").predict_with_maps(images)
    _, maps = served.predict_with_maps(images)
    assert maps.shape == (2, 2, 2, 5)
    np.testing.assert_allclose(maps, keras_maps, atol=1e-4)
    outputs, keras_outputs = served.predict_outputs(images), \
        KerasGrader(tmp_path / "grader.keras").predict_outputs(images)
    assert served.assesses_dme and outputs.dme is not None and outputs.dme.shape == (2,)
    np.testing.assert_allclose(outputs.dme, keras_outputs.dme, atol=1e-5)
    np.testing.assert_allclose(outputs.probabilities, got, atol=1e-6)


def test_a_grader_without_oedema_output_says_not_assessed(tmp_path: Path) -> None:
    """Graders before 2.0 have no DME output: None, never a probability of 0."""
    keras.utils.set_random_seed(4)
    build_grader(input_size=64, dme=False).save(tmp_path / "old.keras")
    served = TFLiteGrader(export_tflite(tmp_path / "old.keras", tmp_path / "old.tflite"))
    images = np.random.default_rng(1).uniform(-1, 1, (1, 64, 64, 3)).astype(np.float32)
    assert not served.assesses_dme and served.predict_outputs(images).dme is None
    assert KerasGrader(tmp_path / "old.keras").predict_outputs(images).dme is None


def test_referable_probability_combines_grade_and_oedema() -> None:
    grades = np.array([[0.6, 0.2, 0.1, 0.05, 0.05], [0.29, 0.26, 0.21, 0.14, 0.10]])
    np.testing.assert_allclose(referable_probability(grades), [0.2, 0.45])
    # 1 - P(grade < 2) * (1 - P(DME))
    np.testing.assert_allclose(referable_probability(grades, np.array([0.5, 0.0])),
                               [1 - 0.8 * 0.5, 0.45])


def test_activation_maps_average_to_the_logits() -> None:
    """Global average pooling then one dense layer: each map's mean is the grade's logit."""
    keras.utils.set_random_seed(5)
    grader = build_grader(input_size=96)
    images = np.random.default_rng(2).uniform(-1, 1, (3, 96, 96, 3)).astype(np.float32)
    probabilities, maps, _ = serving_model(grader).predict_on_batch(images)
    logits = np.asarray(maps).mean(axis=(1, 2))
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(softmax, probabilities, atol=1e-5)


def test_heat_map_is_where_the_evidence_is() -> None:
    maps = np.zeros((7, 7, 5), np.float32)
    maps[2, 5, 3] = 4.0      # evidence for grade 3 in one cell
    maps[6, 0, 0] = 9.0      # evidence for "no DR" elsewhere: never heat
    probabilities = np.array([0.1, 0.1, 0.1, 0.6, 0.1])
    cam = class_activation(maps, probabilities)
    assert cam.max() == 1.0 and np.unravel_index(cam.argmax(), cam.shape) == (2, 5)
    assert cam[6, 0] == 0.0
    assert class_activation(maps, probabilities, target=3)[2, 5] == 1.0
    full = resize_map(cam, 224, 300)
    assert full.shape == (224, 300) and 0 <= full.min() and full.max() <= 1
    rgb = np.full((224, 300, 3), 100, np.uint8)
    blended = overlay(rgb, full)
    assert blended.shape == rgb.shape and (blended[0, 0] == rgb[0, 0]).all()
    assert not (blended == rgb).all()


def test_heat_map_lands_where_the_model_looked_in_a_wide_photograph() -> None:
    """A camera frame wider than the fundus: the crop and padding are undone."""
    photo = np.zeros((300, 500, 3), np.uint8)
    yy, xx = np.mgrid[0:300, 0:500]
    photo[(yy - 150) ** 2 + (xx - 250) ** 2 < 140 ** 2] = (180, 90, 40)  # fundus, box 110-390
    cam = np.zeros((7, 7), np.float32)
    cam[3, 6] = 1.0  # the right edge of the model's square
    placed = map_to_photograph(cam, photo)
    assert placed.shape == (300, 500)
    row, col = np.unravel_index(placed.argmax(), placed.shape)
    assert 130 <= row <= 170 and 330 <= col <= 390
    assert placed[:, :110].max() == 0 and placed[:, 391:].max() == 0  # outside the fundus
