"""Parameters and bins shared by the calibration errors.

``norm`` reads HLE's ``p`` ("2", "1", "infty" and its spellings; a number from ``-p`` too);
``positional_bin_errors`` gives, per resample, the weight and |mean confidence - accuracy|
of consecutive bins of the answers sorted by confidence (HLE's binning).
"""

from __future__ import annotations

import numpy as np

from harness.errors import ParameterError
from harness.plugins.metrics.grouped import Grouped

NORMS = {"2": "2", "1": "1", "infty": "infty", "infinity": "infty", "max": "infty", "inf": "infty"}


def norm(p: object) -> str:
    """The canonical name of the norm ``p``: "2", "1" or "infty"."""
    key = str(p).strip().lower()
    if key.endswith(".0"):
        key = key[:-2]
    if key not in NORMS:
        raise ParameterError(f"p must be '1', '2' or 'infty', got {p!r}")
    return NORMS[key]


def check_beta(beta: object) -> int:
    if isinstance(beta, bool) or not isinstance(beta, (int, np.integer)) or beta < 1:
        raise ParameterError(f"beta (the target bin size) must be an integer >= 1, got {beta!r}")
    return int(beta)


def bin_edges(n: int, beta: int) -> np.ndarray:
    """Consecutive bins of ``beta`` answers, the last absorbing the remainder (at least one bin)."""
    count = max(1, n // beta)
    edges = np.arange(count + 1) * beta
    edges[-1] = n
    return edges


def positional_bin_errors(g: Grouped, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per resample and bin: weight (bin size / n) and |mean confidence - accuracy|."""
    conf_sum = g.conf_in_first(edges)
    hit_sum = g.hits_in_first(edges)
    sizes = np.diff(edges).astype(np.float64)
    gap = np.abs(np.diff(conf_sum, axis=1) - np.diff(hit_sum, axis=1)) / sizes
    return np.broadcast_to(sizes / g.n, gap.shape), gap


def combine(weights: np.ndarray, gaps: np.ndarray, p: str) -> np.ndarray:
    """Aggregate per-bin gaps: weighted RMS ("2"), weighted mean ("1") or max ("infty")."""
    if gaps.shape[1] == 0:
        return np.zeros(gaps.shape[0])
    if p == "2":
        return np.sqrt(np.sum(weights * gaps**2, axis=1))
    if p == "1":
        return np.sum(weights * gaps, axis=1)
    return np.max(gaps, axis=1)
