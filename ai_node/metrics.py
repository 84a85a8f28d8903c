"""Agreement and discrimination metrics for DR grading, in NumPy only.

- Quadratic weighted kappa (Cohen, Psychological Bulletin 70(4), 1968), the
  usual agreement measure for ordinal DR grades (Kaggle 2015, APTOS 2019).
- ROC AUC by the Mann-Whitney U statistic, ties counted half.
- Expected calibration error (Guo et al., "On Calibration of Modern Neural
  Networks", ICML 2017) with equal-width confidence bins.
- Percentile bootstrap 95% intervals (Efron and Tibshirani, 1993).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """``classes`` x ``classes`` counts; rows are the truth, columns the prediction."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(truth, int), np.asarray(predicted, int)), 1)
    return matrix


def quadratic_weighted_kappa(truth: np.ndarray, predicted: np.ndarray, classes: int = 5) -> float:
    """Cohen's kappa with quadratic weights; 1 is perfect, 0 chance agreement."""
    observed = confusion_matrix(truth, predicted, classes).astype(float)
    total = observed.sum()
    if total == 0:
        return float("nan")
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / total
    grid = np.arange(classes)
    weights = (grid[:, None] - grid[None, :]) ** 2 / (classes - 1) ** 2
    denominator = (weights * expected).sum()
    if denominator == 0:
        return 1.0 if (weights * observed).sum() == 0 else 0.0
    return float(1.0 - (weights * observed).sum() / denominator)


def roc_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve; NaN when only one class is present."""
    positive = np.asarray(positive, bool)
    score = np.asarray(score, float)
    n_pos, n_neg = positive.sum(), (~positive).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    sorted_scores = score[order]
    # Average ranks over ties (1-based), as in the Mann-Whitney U statistic.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_curve(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates over every threshold, from (0, 0) to (1, 1)."""
    positive = np.asarray(positive, bool)
    order = np.argsort(-np.asarray(score, float), kind="mergesort")
    tps = np.concatenate([[0], np.cumsum(positive[order])])
    fps = np.concatenate([[0], np.cumsum(~positive[order])])
    return fps / max(fps[-1], 1), tps / max(tps[-1], 1)


def sensitivity_specificity(positive: np.ndarray, flagged: np.ndarray) -> tuple[float, float]:
    """Sensitivity and specificity of a binary decision; NaN where undefined."""
    positive = np.asarray(positive, bool)
    flagged = np.asarray(flagged, bool)
    sens = (flagged & positive).sum() / positive.sum() if positive.any() else float("nan")
    spec = (~flagged & ~positive).sum() / (~positive).sum() if (~positive).any() else float("nan")
    return float(sens), float(spec)


def expected_calibration_error(correct: np.ndarray, confidence: np.ndarray,
                               bins: int = 10) -> float:
    """Weighted mean gap between accuracy and confidence over equal-width bins."""
    correct = np.asarray(correct, float)
    confidence = np.asarray(confidence, float)
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    error = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            error += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(error)


def bootstrap_interval(statistic: Callable[[np.ndarray], float], n: int, rounds: int = 1000,
                       seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of ``statistic(indices)`` over ``rounds`` resamples of ``n`` cases."""
    rng = np.random.default_rng(seed)
    values = np.array([statistic(rng.integers(0, n, n)) for _ in range(rounds)])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))
