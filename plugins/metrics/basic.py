"""Summary metrics: accuracy, mean and spread of the confidences, and the Brier score.

Each is a plain function of one run, with a batched form for the bootstrap that reads the
shared tie-group weights (``grouped.group_resamples``).
"""

from __future__ import annotations

import numpy as np

from harness.plugins.metrics.grouped import as_arrays, group_resamples
from harness.statistics.bootstrap import Resamples, vectorized


def _accuracy_batched(confidence: np.ndarray, correct: np.ndarray, resamples: Resamples) -> np.ndarray:
    g = group_resamples(confidence, correct, resamples)
    return g.hits.sum(axis=1) / g.n


@vectorized(_accuracy_batched)
def accuracy(confidence: np.ndarray, correct: np.ndarray) -> float:
    """Fraction of answers judged correct."""
    _, hit = as_arrays(confidence, correct)
    return float(np.mean(hit))


def _mean_confidence_batched(
    confidence: np.ndarray, correct: np.ndarray, resamples: Resamples
) -> np.ndarray:
    g = group_resamples(confidence, correct, resamples)
    return g.size @ g.values / g.n


@vectorized(_mean_confidence_batched)
def mean_confidence(confidence: np.ndarray, correct: np.ndarray) -> float:
    """Average stated or implied confidence."""
    conf, _ = as_arrays(confidence, correct)
    return float(np.mean(conf))


def _confidence_std_batched(
    confidence: np.ndarray, correct: np.ndarray, resamples: Resamples
) -> np.ndarray:
    g = group_resamples(confidence, correct, resamples)
    mean = g.size @ g.values / g.n
    # two passes, each resample about its own mean: E[x^2] - E[x]^2 cancels (a resample of equal
    # values read 3.7e-9 where np.std reads 0)
    deviations = g.values[None, :] - mean[:, None]
    return np.sqrt(np.einsum("rg,rg->r", g.size, deviations**2) / g.n)


@vectorized(_confidence_std_batched)
def confidence_std(confidence: np.ndarray, correct: np.ndarray) -> float:
    """Population standard deviation (ddof=0) of the confidences: 0 when they are all equal."""
    conf, _ = as_arrays(confidence, correct)
    return float(np.std(conf))


def _brier_batched(confidence: np.ndarray, correct: np.ndarray, resamples: Resamples) -> np.ndarray:
    g = group_resamples(confidence, correct, resamples)
    # Per group: the misses contribute v**2 each, the hits (1 - v)**2 each.
    return (g.misses @ g.values**2 + g.hits @ (1.0 - g.values) ** 2) / g.n


@vectorized(_brier_batched)
def brier(confidence: np.ndarray, correct: np.ndarray) -> float:
    """Brier score: mean squared difference between confidence and correctness (0 is best)."""
    conf, hit = as_arrays(confidence, correct)
    return float(np.mean((conf - hit) ** 2))
