"""``debiased_calib_err``: the criteria's calibration error, with resolution at a few hundred answers.

The answers, sorted by confidence, are cut into ``bins`` (default 10) consecutive bins of
equal mass (sizes differ by at most one; tied confidences split pro rata across a cut, as
for ``rms_calib_err``), so every bin holds about n / bins answers whatever n is — where
``rms_calib_err``'s fixed bins of 100 leave 4 bins at n = 450 and 1 at n = 150. Per bin b
with n_b answers, mean confidence c_b and accuracy a_b, the plug-in squared gap
(c_b - a_b)^2 overstates the true one by the variance of a_b, whose unbiased estimate is
a_b (1 - a_b) / (n_b - 1) (Kumar, Liang & Ma 2019, "Verified uncertainty calibration"), so

    debiased_calib_err = sqrt(max(0, sum_b n_b / n * ((c_b - a_b)^2 - a_b (1 - a_b) / (n_b - 1))))

(a bin of one answer gets no correction). Without the correction, 45 answers a bin carry a
floor of about 0.07 that no training can remove, and which shrinks every relative reduction.
"""

from __future__ import annotations

import numpy as np

from harness.errors import ParameterError
from harness.plugins.metrics.grouped import Grouped, group_resamples, grouped
from harness.statistics.bootstrap import Resamples, vectorized


def check_bins(bins: object) -> int:
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ParameterError(f"bins (how many equal-mass bins) must be an integer >= 1, got {bins!r}")
    return int(bins)


def equal_mass_edges(n: int, bins: int) -> np.ndarray:
    """Cuts of n sorted answers into min(bins, n) consecutive bins whose sizes differ by at most one."""
    count = max(1, min(bins, n))
    return (np.arange(count + 1) * n) // count


def _debiased(g: Grouped, bins: object) -> np.ndarray:
    edges = equal_mass_edges(g.n, check_bins(bins))
    sizes = np.diff(edges).astype(np.float64)
    conf = np.diff(g.conf_in_first(edges), axis=1) / sizes
    acc = np.diff(g.hits_in_first(edges), axis=1) / sizes
    variance = np.where(sizes > 1, acc * (1.0 - acc) / np.maximum(sizes - 1.0, 1.0), 0.0)
    squared = np.sum(sizes / g.n * ((conf - acc) ** 2 - variance), axis=1)
    return np.sqrt(np.maximum(squared, 0.0))


def _debiased_batched(confidence: np.ndarray, correct: np.ndarray, resamples: Resamples,
                      bins: int = 10) -> np.ndarray:
    return _debiased(group_resamples(confidence, correct, resamples), bins)


@vectorized(_debiased_batched)
def debiased_calib_err(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Debiased RMS calibration error over ``bins`` equal-mass bins of the answers sorted by confidence."""
    return float(_debiased(grouped(confidence, correct), bins)[0])
