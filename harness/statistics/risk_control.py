"""Abstention with a risk guarantee: the confidence threshold to answer at, chosen by Learn-then-Test.

Given calibration answers (a confidence, whether the answer was right, whether the model attempted
it), a risk level ``alpha`` and a failure probability ``delta``, ``choose_threshold`` returns the
lowest threshold ``t`` of a grid such that, with probability at least ``1 - delta`` over the
calibration answers, the error rate among the questions answered at ``t`` (confidence >= ``t``) in
the population they were drawn from is at most ``alpha``. The guarantee assumes the answers it is
used on are exchangeable with the calibration answers; it says nothing about any other population.

The procedure (Angelopoulos, Bates, Candès, Jordan & Lei, "Learn then Test", 2021):

- for each threshold ``t`` the null hypothesis is "the error rate among answered questions
  exceeds ``alpha``". Given the number ``m`` of calibration answers answered at ``t``, those
  answers are independent draws from the answered population, so their errors ``e`` are
  Binomial(m, risk(t)) and ``P(Binomial(m, alpha) <= e)`` is a valid p-value (the exact binomial
  tail, no Hoeffding or Bentkus approximation needed for a 0/1 loss);
- fixed-sequence testing: thresholds are tested from the most conservative down, each at one
  level, stopping at the first that is not rejected; the family-wise error rate is at most that
  level with no penalty for the grid's size, so the grid can be fine. The threshold chosen is the
  lowest one rejected.
- where a sequence starts: the thresholds at the very top answer so few calibration answers that
  a single error there (or none: ``(1 - alpha)^m > delta`` below 22 answers at alpha = delta = 0.1)
  stops the sequence, though lower thresholds would pass; and a start too low, where the risk is
  above alpha, stops it at once. So there are ``K`` sequences (``sequence_starts``), each at level
  ``delta / K`` (Bonferroni: the family-wise error rate of all of them is at most ``delta``),
  starting at the highest thresholds that answer ``m0``, ``2 m0``, ``4 m0``, ... calibration answers,
  where ``m0`` is the fewest answers that could be rejected at all (no error, level ``delta / K``)
  and ``K`` is as many doublings as the attempted answers hold (K = 4 for 300 answers at
  alpha = delta = 0.1). The chosen threshold is the lowest rejected by any sequence. The starts
  depend on the counts of calibration confidences above them, never on correctness; strictly a
  test is then exact only where the error rate does not rise with confidence above its start
  (wrong answers imputed at 1.0 do; in the tests' simulation with 5% of them the procedure only
  grew more conservative), which is why ``bench/abstention.py`` measures the guarantee on real
  worlds and the tests on simulations.
- ``attempted`` False is the model's own abstention: never answered, whatever its confidence.
  The caller counts judge errors as wrong (``correct`` False) — they are never dropped.
- when no threshold is rejected, ``threshold`` is None: abstain on everything, and ``describe``
  says so.

Why by hand and not ``mapie.risk_control.BinaryClassificationController`` (MAPIE 1.6, precision
risk, ``fwer_method="fixed_sequence"``), which runs the same procedure: every report row needs
this, and MAPIE is an optional package (it pulls scikit-learn, a test-only dependency here); and
MAPIE reads the error count back as ``ceil(m * (1 - precision))`` in floating point, which rounds
some counts up (3 errors in 10 answers is read as 4: ``10 * (1 - 0.7) = 3.0000000000000004``) —
valid but needlessly conservative; and its p-value of a threshold with no answers is 1, so a grid
that starts at 1.0 (where imputed confidences sit) stops there, and its multi-start variant spaces
the starts evenly over the grid, not by answers. ``tests/statistics/test_risk_control.py``
checks this module against MAPIE on the same data where MAPIE is installed (the test extra).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from harness.errors import ParameterError
from harness.statistics.seed_statistics import beta_cdf

#: the default thresholds: every hundredth of [0, 1], 1.0 (where imputed confidences sit) included,
#: and 1 - 10^-k for k = 2.25, 2.5, ..., 6: token-probability confidences crowd within 0.01 of 1
#: (on the tiny model's worlds a quarter of the answers), and fixed-sequence testing pays nothing
#: for a finer grid
DEFAULT_GRID = np.unique(np.concatenate([np.round(np.arange(101) / 100, 2),
                                         1.0 - 10.0 ** -np.arange(2.25, 6.01, 0.25)]))
METHOD = "learn-then-test, exact binomial tail, fixed-sequence from 1.0 down (K starts, delta / K each)"


@attrs.frozen(kw_only=True)
class ThresholdChoice:
    """The threshold chosen on calibration answers, and the numbers it was chosen from."""

    threshold: float | None  # answer when calibrated confidence >= threshold; None = abstain on everything
    alpha: float  # risk level: error rate among answered questions
    delta: float  # failure probability of the guarantee
    n: int  # calibration answers it was chosen on
    answered: int  # of those, answered at the threshold
    errors: int  # of those answered, wrong (judge errors count as wrong)
    method: str = METHOD
    p_value: float | None = None  # the binomial p-value at the chosen threshold

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ThresholdChoice:
        try:
            threshold = data["threshold"]
            p_value = data.get("p_value")
            return cls(threshold=None if threshold is None else float(threshold),
                       alpha=float(data["alpha"]), delta=float(data["delta"]), n=int(data["n"]),
                       answered=int(data["answered"]), errors=int(data["errors"]),
                       method=str(data.get("method", METHOD)),
                       p_value=None if p_value is None else float(p_value))
        except (KeyError, TypeError, ValueError) as exc:
            raise ParameterError(f"not a threshold choice: {dict(data)!r} ({exc})") from None

    def describe(self) -> str:
        """One line for a report: the threshold and its guarantee, or that none controls the risk."""
        if self.threshold is None:
            return (f"no threshold keeps the error rate among answered questions at or below "
                    f"{self.alpha:g} with probability {1 - self.delta:g} ({self.n} calibration answers): "
                    f"abstain on everything")
        return (f"answer when confidence >= {self.threshold:g}: error rate among answered <= "
                f"{self.alpha:g} with probability {1 - self.delta:g} (chosen on {self.n} answers; "
                f"{self.answered} answered, {self.errors} wrong)")


def binomial_tail(errors: int, answered: int, alpha: float) -> float:
    """P(Binomial(answered, alpha) <= errors): the p-value of "risk > alpha" after ``errors`` in
    ``answered``."""
    if errors >= answered:
        return 1.0
    # P(X <= e) = I_{1 - alpha}(n - e, e + 1) = 1 - I_alpha(e + 1, n - e)
    return min(1.0, max(0.0, 1.0 - beta_cdf(alpha, errors + 1, answered - errors)))


def _check_level(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ParameterError(f"{name} must lie strictly between 0 and 1, got {value}")
    return value


def _as_arrays(confidence: np.ndarray, correct: np.ndarray,
               attempted: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    conf = np.asarray(confidence, dtype=np.float64).ravel()
    hit = np.asarray(correct, dtype=bool).ravel()
    tried = np.asarray(attempted, dtype=bool).ravel()
    if not len(conf) == len(hit) == len(tried):
        raise ParameterError(f"confidence, correct and attempted differ in length "
                             f"({len(conf)}, {len(hit)}, {len(tried)})")
    if np.isnan(conf[tried]).any():
        raise ParameterError("an attempted answer has no confidence (impute it before choosing a threshold)")
    return conf, hit, tried


def _fewest_answers(alpha: float, level: float) -> int:
    """The fewest answers whose perfect record rejects "risk > alpha" at ``level``: (1 - alpha)^m <= level."""
    return max(1, int(np.ceil(np.log(level) / np.log1p(-alpha) - 1e-12)))


def sequence_starts(answered_at: np.ndarray, alpha: float, delta: float) -> tuple[list[int], float]:
    """(the index in ``answered_at`` where each fixed sequence starts, the level of each), for
    thresholds in decreasing order answering ``answered_at`` calibration answers (non-decreasing)."""
    attempted = int(answered_at[-1]) if len(answered_at) else 0
    k = 1
    for _ in range(8):  # K and m0 depend on each other; a fixed point is reached in a few steps
        m0 = _fewest_answers(alpha, delta / k)
        fitted = 1 + int(np.floor(np.log2(attempted / m0))) if attempted >= m0 else 1
        if fitted == k:
            break
        k = fitted
    level = delta / k
    starts = []
    for j in range(k):
        reached = np.flatnonzero(answered_at >= m0 * 2**j)
        if len(reached):
            starts.append(int(reached[0]))
    return sorted(set(starts)), level


def choose_threshold(confidence: np.ndarray, correct: np.ndarray, attempted: np.ndarray, *,
                     alpha: float, delta: float, grid: np.ndarray | None = None) -> ThresholdChoice:
    """The lowest grid threshold whose error rate among answered questions is at most ``alpha``
    with probability ``1 - delta`` (Learn-then-Test, fixed sequences from the top, module docstring)."""
    alpha = _check_level("alpha (risk level)", alpha)
    delta = _check_level("delta (failure probability)", delta)
    conf, hit, tried = _as_arrays(confidence, correct, attempted)
    thresholds = np.unique(np.asarray(DEFAULT_GRID if grid is None else grid, dtype=np.float64))[::-1]
    if not len(thresholds) or not np.isfinite(thresholds).all():
        raise ParameterError("the threshold grid must be a non-empty set of finite numbers")
    # sorted once: answered at t = attempted with confidence >= t, counted by binary search
    attempted_conf = conf[tried]
    wrong_conf = np.sort(attempted_conf[~hit[tried]])
    attempted_conf = np.sort(attempted_conf)
    answered_at = len(attempted_conf) - np.searchsorted(attempted_conf, thresholds, side="left")
    wrong_at = len(wrong_conf) - np.searchsorted(wrong_conf, thresholds, side="left")
    starts, level = sequence_starts(answered_at, alpha, delta)
    lowest: int | None = None
    p_values: dict[int, float] = {}
    for start in starts:
        for i in range(start, len(thresholds)):
            if i not in p_values:
                p_values[i] = binomial_tail(int(wrong_at[i]), int(answered_at[i]), alpha)
            if p_values[i] > level:
                break
            lowest = i if lowest is None else max(lowest, i)
    if lowest is None:
        return ThresholdChoice(threshold=None, alpha=alpha, delta=delta, n=len(conf), answered=0, errors=0)
    return ThresholdChoice(threshold=float(thresholds[lowest]), alpha=alpha, delta=delta, n=len(conf),
                           answered=int(answered_at[lowest]), errors=int(wrong_at[lowest]),
                           p_value=p_values[lowest])


def abstains(confidence: np.ndarray, choice: ThresholdChoice) -> np.ndarray:
    """Whether each answer abstains under ``choice`` (True below the threshold, everywhere when it
    is None; a missing confidence, NaN, abstains)."""
    conf = np.asarray(confidence, dtype=np.float64)
    if choice.threshold is None:
        return np.ones(conf.shape, dtype=bool)
    return ~(conf >= choice.threshold)
