"""Calibration errors done right: ``rms_calib_err`` (HLE's estimator, fixed) and ``ece``.

``rms_calib_err`` bins the answers sorted by confidence into consecutive bins of ``beta``
(the last absorbing the remainder) like HLE, but includes *every* bin, sorts stably, splits
tied confidences pro rata across a bin edge (so the input order never matters), and
accepts any n >= 1 (fewer than ``beta`` answers: one bin). ``adaptive=True`` shrinks the
bins to ``min(beta, max(1, n // 10))`` so a small test set still gets about ten bins.

``ece`` is the expected calibration error with ``bins`` equal-width bins: bin i holds the
confidences in [i/bins, (i+1)/bins), the last bin also 1.0; it is the L1 gap weighted by
bin size.
"""

from __future__ import annotations

import numpy as np

from harness.errors import ParameterError
from harness.plugins.metrics.binning import bin_edges, check_beta, combine, norm, positional_bin_errors
from harness.plugins.metrics.grouped import Grouped, group_resamples, grouped
from harness.statistics.bootstrap import Resamples, vectorized

ADAPTIVE_BINS = 10


def effective_beta(n: int, beta: int, adaptive: bool) -> int:
    """The bin size used for n answers: ``beta``, or with ``adaptive`` at most n // 10."""
    return min(beta, max(1, n // ADAPTIVE_BINS)) if adaptive else beta


def _rms(g: Grouped, p: object, beta: object, adaptive: bool) -> np.ndarray:
    p, beta = norm(p), check_beta(beta)
    weights, gaps = positional_bin_errors(g, bin_edges(g.n, effective_beta(g.n, beta, bool(adaptive))))
    return combine(weights, gaps, p)


def _rms_batched(
    confidence: np.ndarray,
    correct: np.ndarray,
    resamples: Resamples,
    p: str = "2",
    beta: int = 100,
    adaptive: bool = False,
) -> np.ndarray:
    return _rms(group_resamples(confidence, correct, resamples), p, beta, adaptive)


@vectorized(_rms_batched)
def rms_calib_err(
    confidence: np.ndarray, correct: np.ndarray, p: str | float = "2", beta: int = 100, adaptive: bool = False
) -> float:
    """RMS calibration error over bins of ``beta`` answers by confidence, every bin included."""
    return float(_rms(grouped(confidence, correct), p, beta, adaptive)[0])


def check_bins(bins: object) -> int:
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ParameterError(f"bins must be an integer >= 1, got {bins!r}")
    return int(bins)


def bin_index(confidence: np.ndarray, bins: int) -> np.ndarray:
    """Equal-width bin of each confidence: [i/bins, (i+1)/bins), 1.0 in the last bin."""
    return np.minimum(np.floor(np.asarray(confidence) * bins).astype(np.int64), bins - 1)


def _ece(g: Grouped, bins: object) -> np.ndarray:
    bins = check_bins(bins)
    # The values ascend, so each bin holds consecutive groups: its sums of confidences and of
    # hits are differences of the running sums (shared with the other metrics) at the bins'
    # last groups. (A matrix product here ran multithreaded in OpenBLAS, at ~10x the CPU time.)
    ends = np.searchsorted(bin_index(g.values, bins), np.arange(bins), side="right")  # groups in bins <= b
    last = np.maximum(ends - 1, 0)
    conf_sum = np.where(ends > 0, g.conf_upto[:, last], 0.0)
    hit_sum = np.where(ends > 0, g.hits_upto[:, last], 0.0)
    gap = np.diff(conf_sum, axis=1, prepend=0.0) - np.diff(hit_sum, axis=1, prepend=0.0)  # per bin
    return np.sum(np.abs(gap), axis=1) / g.n


def _ece_batched(
    confidence: np.ndarray, correct: np.ndarray, resamples: Resamples, bins: int = 10
) -> np.ndarray:
    return _ece(group_resamples(confidence, correct, resamples), bins)


@vectorized(_ece_batched)
def ece(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: sum over equal-width bins of |B|/n * |accuracy - mean confidence|."""
    return float(_ece(grouped(confidence, correct), bins)[0])
