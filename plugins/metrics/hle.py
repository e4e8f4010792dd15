"""HLE's calibration error, reproduced bit for bit, quirks included.

Humanity's Last Exam reports ``calib_err`` from ``hle_eval/run_judge_results.py`` (taken
from hendrycks/outlier-exposure ``utils/calibration_tools.py``). ``hle_calib_err`` performs
the same floating-point operations in the same order, so it returns the same number for
every input, including HLE's oddities (see docs/metrics.md):

- answers are sorted with numpy's default (non-stable) ``argsort``, so the order of tied
  confidences, and with it the result, depends on the input order;
- bins of ``beta`` answers, the last absorbing the remainder, but the loop skips the last
  bin (the most confident answers) while its answers still count in ``n``;
- hence ``beta <= n < 2 * beta`` always gives 0.0; ``n < beta`` fails in HLE with an
  ``IndexError``, here with ``InsufficientDataError``.

HLE prints ``100 * round(err, 2)``: ``hle_percent`` gives that form.
"""

from __future__ import annotations

import numpy as np

from harness.errors import InsufficientDataError
from harness.plugins.metrics.binning import bin_edges, check_beta, combine, norm, positional_bin_errors
from harness.plugins.metrics.grouped import as_arrays, group_resamples
from harness.statistics.bootstrap import Resamples, vectorized


def hle_percent(err: float) -> float:
    """HLE's reported form of the error: ``100 * round(err, 2)`` with numpy's rounding."""
    return float(100 * round(np.float64(err), 2))


def _hle_batched(
    confidence: np.ndarray, correct: np.ndarray, resamples: Resamples, p: str = "2", beta: int = 100
) -> np.ndarray:
    """HLE's estimator on every resample (ties split pro rata: their order is arbitrary anyway)."""
    p, beta = norm(p), check_beta(beta)
    g = group_resamples(confidence, correct, resamples)
    _require(g.n, beta)
    weights, gaps = positional_bin_errors(g, bin_edges(g.n, beta))
    return combine(weights[:, :-1], gaps[:, :-1], p)  # HLE's loop skips the last bin


def _require(n: int, beta: int) -> None:
    if n < beta:
        raise InsufficientDataError(
            f"hle_calib_err needs at least beta={beta} examples, got {n} "
            "(HLE itself fails with an IndexError; use rms_calib_err or a smaller beta)"
        )


@vectorized(_hle_batched)
def hle_calib_err(
    confidence: np.ndarray, correct: np.ndarray, p: str | float = "2", beta: int = 100
) -> float:
    """RMS calibration error exactly as HLE computes it (``p``: "2", "1" or "infty")."""
    p, beta = norm(p), check_beta(beta)
    as_arrays(confidence, correct)  # checks only: HLE's arithmetic runs on the arrays as given
    confidence = np.asarray(confidence)
    correct = np.asarray(correct)
    _require(len(confidence), beta)

    idxs = np.argsort(confidence)  # numpy's default kind, as in HLE: ties in arbitrary order
    confidence = confidence[idxs]
    correct = correct[idxs]
    bins = [[i * beta, (i + 1) * beta] for i in range(len(confidence) // beta)]
    bins[-1] = [bins[-1][0], len(confidence)]

    cerr = 0
    total_examples = len(confidence)
    for i in range(len(bins) - 1):  # every bin but the last, as in HLE
        bin_confidence = confidence[bins[i][0] : bins[i][1]]
        bin_correct = correct[bins[i][0] : bins[i][1]]
        num_examples_in_bin = len(bin_confidence)
        if num_examples_in_bin > 0:
            difference = np.abs(np.nanmean(bin_confidence) - np.nanmean(bin_correct))
            if p == "2":
                cerr += num_examples_in_bin / total_examples * np.square(difference)
            elif p == "1":
                cerr += num_examples_in_bin / total_examples * difference
            else:
                cerr = np.maximum(cerr, difference)
    if p == "2":
        cerr = np.sqrt(cerr)
    return float(cerr)


hle_calib_err.extras = {"hle_percent": hle_percent}  # type: ignore[attr-defined]
