"""Metrics against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from ai_node import metrics


def test_kappa_is_one_when_all_agree_and_negative_when_reversed() -> None:
    grades = np.array([0, 1, 2, 3, 4, 0, 2])
    assert metrics.quadratic_weighted_kappa(grades, grades) == pytest.approx(1.0)
    assert metrics.quadratic_weighted_kappa(grades, 4 - grades) < 0


def test_kappa_on_a_worked_example() -> None:
    # Observed [[1, 1], [0, 2]] over two classes: weights [[0, 1], [1, 0]];
    # expected = outer([2, 2], [1, 3]) / 4 = [[.5, 1.5], [.5, 1.5]]; kappa = 1 - 1 / 2.
    truth, predicted = np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])
    assert metrics.quadratic_weighted_kappa(truth, predicted, classes=2) == pytest.approx(0.5)


def test_auc_counts_ties_half() -> None:
    assert metrics.roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == 0.75
    assert metrics.roc_auc(np.array([0, 1]), np.array([0.5, 0.5])) == 0.5
    assert np.isnan(metrics.roc_auc(np.array([1, 1]), np.array([0.1, 0.2])))


def test_roc_curve_runs_corner_to_corner() -> None:
    fpr, tpr = metrics.roc_curve(np.array([0, 1, 1]), np.array([0.2, 0.9, 0.4]))
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)


def test_sensitivity_and_specificity() -> None:
    sens, spec = metrics.sensitivity_specificity(np.array([1, 1, 0, 0]), np.array([1, 0, 0, 1]))
    assert (sens, spec) == (0.5, 0.5)


def test_calibration_error_is_zero_when_confidence_matches_accuracy() -> None:
    correct = np.array([1, 1, 1, 0])
    assert metrics.expected_calibration_error(correct, np.full(4, 0.75)) == pytest.approx(0)
    assert metrics.expected_calibration_error(correct, np.full(4, 0.95)) == pytest.approx(0.2)


def test_bootstrap_interval_brackets_the_estimate() -> None:
    values = np.random.default_rng(1).normal(size=200)
    low, high = metrics.bootstrap_interval(lambda i: float(values[i].mean()), 200, rounds=300)
    assert low < values.mean() < high and high - low < 0.5


def test_operating_point_reaches_the_target_sensitivity() -> None:
    from ai_node.training.operating_point import choose_threshold

    referable = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 1])
    score = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.3, 0.75, 0.05, 0.6, 0.65])
    threshold = choose_threshold(referable, score, 0.8)
    sens, _ = metrics.sensitivity_specificity(referable, score >= threshold)
    assert threshold == 0.65 and sens == 0.8
