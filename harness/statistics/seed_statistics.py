"""Statistics across a sweep's seeds: exact quantiles and intervals, paired tests, multiplicity.

Pure ``math`` and ``numpy`` (scipy is no runtime dependency); each function is exact where its
docstring says so, and checked against scipy in the tests:

- ``t_quantile``: Student's t quantile for every degree of freedom, by inverting the CDF
  (the regularized incomplete beta function), not a table that stops at some df;
- ``clopper_pearson``: the exact binomial interval of a pass rate;
- ``positive_mean_interval``: the interval of the mean of a non-negative metric, a t-interval on
  the log scale of the mean (delta method: ``mean · exp(± t · sd / (mean · √n))``), so never
  below zero (zeros among the values are fine; all zero gives [0, 0]);
- ``two_level_interval``: seeds × bootstrap: resample the seeds, then within each drawn seed one
  of its own bootstrap replicates; the percentile interval of the mean;
- ``sign_flip_test``: the paired permutation test across seeds (exact over all 2^n sign
  patterns when n <= ``EXACT_SEEDS``);
- ``holm``: Holm's step-down adjustment of a family of p-values.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

#: up to this many seeds the sign-flip test enumerates every sign pattern (2^16 = 65,536)
EXACT_SEEDS = 16
#: random sign patterns beyond EXACT_SEEDS (the p-value is then (1 + hits) / (1 + patterns))
SIGN_PATTERNS = 20_000
#: draws of the two-level bootstrap
TWO_LEVEL_DRAWS = 4000


def _beta_continued_fraction(x: float, a: float, b: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        for num in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                    -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-16:
            break
    return h


def beta_cdf(x: float, a: float, b: float) -> float:
    """The regularized incomplete beta function I_x(a, b) (the Beta(a, b) CDF at x)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(x, a, b) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(1.0 - x, b, a) / b


def _bisect(f, low: float, high: float) -> float:
    """The root of increasing ``f`` in [low, high], to the last bit (bisection until it stops moving)."""
    for _ in range(2000):
        mid = (low + high) / 2
        if mid in (low, high):
            break
        low, high = (mid, high) if f(mid) < 0 else (low, mid)
    return (low + high) / 2


def beta_quantile(p: float, a: float, b: float) -> float:
    """The p-quantile of Beta(a, b)."""
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    return _bisect(lambda x: beta_cdf(x, a, b) - p, 0.0, 1.0)


def t_cdf(t: float, df: float) -> float:
    """Student's t CDF with ``df`` degrees of freedom."""
    tail = 0.5 * beta_cdf(df / (df + t * t), df / 2.0, 0.5)
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t with ``df`` > 0 degrees of freedom, exact for every df."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"a quantile needs 0 < p < 1, got {p}")
    if df <= 0:
        raise ValueError(f"degrees of freedom must be > 0, got {df}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    if p == 0.5:
        return 0.0
    # upper tail 1 - p = I_x(df/2, 1/2) / 2 with x = df / (df + t^2): solve for x, then t
    x = beta_quantile(2.0 * (1.0 - p), df / 2.0, 0.5)
    return math.sqrt(df * (1.0 - x) / x) if x > 0 else math.inf


def clopper_pearson(k: int, n: int, level: float = 0.95) -> list[float] | None:
    """The exact (Clopper-Pearson) interval of a binomial proportion k / n; None when n is 0."""
    if n == 0:
        return None
    alpha = 1.0 - level
    low = 0.0 if k == 0 else beta_quantile(alpha / 2, k, n - k + 1)
    high = 1.0 if k == n else beta_quantile(1 - alpha / 2, k + 1, n - k)
    return [low, high]


def t_interval(values: Sequence[float], level: float = 0.95) -> list[float] | None:
    """The Student-t interval of the mean (None for fewer than two values)."""
    n = len(values)
    if n < 2:
        return None
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(1 - (1 - level) / 2, n - 1) * sd / math.sqrt(n)
    return [mean - half, mean + half]


def positive_mean_interval(values: Sequence[float], level: float = 0.95) -> list[float] | None:
    """The interval of the mean of non-negative values, a t-interval on the log scale of the mean
    (delta method, which needs only mean > 0):
    ``mean · exp(± t · sd / (mean · √n))`` — never below zero, wider above the mean than below.
    None for fewer than two values."""
    n = len(values)
    if n < 2:
        return None
    mean = sum(values) / n
    if mean <= 0:
        return [0.0, 0.0]
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    spread = t_quantile(1 - (1 - level) / 2, n - 1) * sd / (mean * math.sqrt(n))
    return [mean * math.exp(-spread), mean * math.exp(spread)]


def two_level_interval(replicates: Sequence[np.ndarray], level: float = 0.95, *,
                       draws: int = TWO_LEVEL_DRAWS, seed: int = 0) -> list[float] | None:
    """Seeds × bootstrap: each draw picks n seeds with replacement, then for each picked seed one
    of its bootstrap replicates (``replicates[s]``: seed s's, NaN ones left out), and takes their
    mean; the central ``level`` percentile interval of those means. None for fewer than two seeds."""
    reps = [np.asarray(r, dtype=np.float64) for r in replicates]
    reps = [r[np.isfinite(r)] for r in reps]
    if len(reps) < 2 or any(r.size == 0 for r in reps):
        return None
    rng = np.random.default_rng(seed)
    n = len(reps)
    seeds = rng.integers(0, n, size=(draws, n))
    picks = np.empty((draws, n))
    for s, r in enumerate(reps):
        where = seeds == s
        picks[where] = r[rng.integers(0, r.size, size=int(where.sum()))]
    means = picks.mean(axis=1)
    tail = (1 - level) / 2 * 100
    return [float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))]


def sign_flip_test(differences: Sequence[float], *, seed: int = 0) -> dict[str, object]:
    """Two-sided paired sign-flip permutation test of mean difference 0 across seeds.

    Under the null each seed's difference is as likely negative as positive; the p-value is the
    share of sign patterns whose |mean| is at least the observed one. Exact (all 2^n patterns)
    for n <= ``EXACT_SEEDS``, else ``SIGN_PATTERNS`` random patterns and (1 + hits) / (1 + patterns).
    """
    d = np.asarray(differences, dtype=np.float64)
    n = d.size
    if n == 0:
        return {"p": None, "n": 0, "exact": True, "patterns": 0}
    observed = abs(d.sum()) * (1 - 1e-12)  # a pattern that ties the observed sum counts
    if n <= EXACT_SEEDS:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
        hits = int((np.abs(signs @ d) >= observed).sum())
        return {"p": hits / len(signs), "n": n, "exact": True, "patterns": len(signs)}
    rng = np.random.default_rng(seed)
    signs = rng.choice((1.0, -1.0), size=(SIGN_PATTERNS, n))
    hits = int((np.abs(signs @ d) >= observed).sum())
    return {"p": (1 + hits) / (1 + SIGN_PATTERNS), "n": n, "exact": False, "patterns": SIGN_PATTERNS}


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given (family-wise error control)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


__all__ = ["EXACT_SEEDS", "beta_cdf", "beta_quantile", "t_cdf", "t_quantile", "clopper_pearson",
           "t_interval", "positive_mean_interval", "two_level_interval", "sign_flip_test", "holm"]
