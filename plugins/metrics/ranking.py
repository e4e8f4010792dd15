"""Ranking metrics: does confidence put correct answers first?

- ``auroc``: probability that a random correct answer has a higher confidence than a random
  incorrect one (ties count one half) — the Mann-Whitney statistic. Undefined when every
  answer is correct or every answer is wrong: ``InsufficientDataError`` (rather than a
  0.5 that would read as "no discrimination").
- ``aurc``: area under the risk-coverage curve of selective prediction (answer only the k
  most confident, k = 1..n; risk = error rate of those): mean over k of the risk. Lower
  is better; a perfect ranking gives its minimum, not 0, unless every answer is correct.
- ``accuracy_at_coverage``: accuracy of the ``coverage`` fraction (ceil) of answers with
  the highest confidence.

Tied confidences are ranked as the average over every order of the ties.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from harness.errors import InsufficientDataError, ParameterError
from harness.plugins.metrics.grouped import Grouped, group_resamples, grouped
from harness.statistics.bootstrap import Resamples, vectorized


def _auroc(g: Grouped) -> np.ndarray:
    # A correct answer beats the incorrect ones below its group and half of those in it.
    beaten = g.misses_upto - 0.5 * g.misses
    total_hits = g.hits_upto[:, -1]
    pairs = total_hits * (g.n - total_hits)
    wins = np.einsum("rg,rg->r", g.hits, beaten)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, wins / pairs, np.nan)


def _auroc_batched(confidence: np.ndarray, correct: np.ndarray, resamples: Resamples) -> np.ndarray:
    return _auroc(group_resamples(confidence, correct, resamples))


@vectorized(_auroc_batched)
def auroc(confidence: np.ndarray, correct: np.ndarray) -> float:
    """Area under the ROC curve of confidence as a detector of correct answers."""
    value = float(_auroc(grouped(confidence, correct))[0])
    if math.isnan(value):
        raise InsufficientDataError("auroc needs both correct and incorrect answers")
    return value


@functools.lru_cache(maxsize=4)  # one n per bootstrap (per width): shared by all its chunks
def _harmonic_sums(n: int) -> tuple[float, np.ndarray]:
    """H(n), and C[j] = H(0) + ... + H(j - 1) indexed backwards: ``back[j] = C[n - j]`` (read-only)."""
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, n + 1))])
    sums = np.concatenate([[0.0], np.cumsum(harmonic[:-1])])
    back = np.ascontiguousarray(sums[::-1])
    back.flags.writeable = False
    return float(harmonic[n]), back


def _aurc(g: Grouped) -> np.ndarray:
    # AURC = 1/n * sum over coverages k of errors(k) / k, ranking by descending confidence.
    # An error at rank r counts in every k >= r: it adds H(n) - H(r - 1). A group whose
    # answers take ranks above+1 .. above+size holds an error at each of its ranks with
    # probability rate = misses / size (every order of the ties), so it adds
    # misses * H(n) - rate * (C[above + size] - C[above]), where above = n - upto and
    # above + size = n - upto of the previous group.
    h_n, back = _harmonic_sums(g.n)
    at_end = back[g.upto_int]  # C[above] per group
    rate = np.maximum(g.size, 1.0)  # misses are 0 where size is
    np.divide(g.misses, rate, out=rate)
    start = np.einsum("rg,rg->r", rate[:, 1:], at_end[:, :-1]) + rate[:, 0] * back[0]
    total_misses = g.n - g.hits_upto[:, -1]
    return (total_misses * h_n - start + np.einsum("rg,rg->r", rate, at_end)) / g.n


def _aurc_batched(confidence: np.ndarray, correct: np.ndarray, resamples: Resamples) -> np.ndarray:
    return _aurc(group_resamples(confidence, correct, resamples))


@vectorized(_aurc_batched)
def aurc(confidence: np.ndarray, correct: np.ndarray) -> float:
    """Area under the risk-coverage curve (mean selective risk over all coverages; lower is better)."""
    return float(_aurc(grouped(confidence, correct))[0])


def covered(n: int, coverage: object) -> int:
    """How many answers a coverage keeps: ceil(coverage * n), at least one."""
    if isinstance(coverage, bool) or not isinstance(coverage, (int, float)) or not 0.0 < coverage <= 1.0:
        raise ParameterError(f"coverage must be a fraction in (0, 1], got {coverage!r}")
    return max(1, math.ceil(coverage * n - 1e-9))


def _accuracy_at_coverage(g: Grouped, coverage: object) -> np.ndarray:
    k = covered(g.n, coverage)
    below = g.hits_in_first(np.array([g.n - k]))[:, 0]  # the n - k least confident answers
    return (g.hits_upto[:, -1] - below) / k


def _accuracy_at_coverage_batched(
    confidence: np.ndarray, correct: np.ndarray, resamples: Resamples, coverage: float = 0.8
) -> np.ndarray:
    return _accuracy_at_coverage(group_resamples(confidence, correct, resamples), coverage)


@vectorized(_accuracy_at_coverage_batched)
def accuracy_at_coverage(confidence: np.ndarray, correct: np.ndarray, coverage: float = 0.8) -> float:
    """Accuracy of the most confident ``coverage`` fraction of answers (selective prediction)."""
    return float(_accuracy_at_coverage(grouped(confidence, correct), coverage)[0])
