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
- fixed-sequence testing: thresholds are tested from the most conservative (1.0) down, each at
  level ``delta``, stopping at the first that is not rejected. The family-wise error rate is at
  most ``delta`` with no multiplicity penalty, so the grid can be fine. The threshold chosen is the
  last one rejected.
- where the sequence starts: a threshold that answers so few calibration answers that not even a
  perfect record could reject it (``(1 - alpha)^m > delta``: fewer than 22 answers at
  alpha = delta = 0.1) carries no evidence either way, and stopping there would stop everything
  (confidences rarely crowd at the top). So the sequence starts at the first threshold from the top
  with enough answers. That start depends on the calibration confidences, never on correctness;
  strictly it is exact only where the error rate does not rise with confidence above the start (a
  few wrong answers imputed at 1.0 break that, by at most their share of the answered), which is
  why ``bench/abstention.py`` measures the guarantee on real worlds and the tests on a simulation.
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
that starts at 1.0 (where imputed confidences sit) stops there. ``tests/test_risk_control.py``
checks this module against MAPIE on the same data where MAPIE is installed (the test extra).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from harness.errors import ParameterError
from harness.statistics.seed_statistics import beta_cdf

#: the default thresholds: every hundredth of [0, 1], 1.0 (imputed confidences) included
DEFAULT_GRID = np.round(np.arange(101) / 100, 2)
METHOD = "learn-then-test, exact binomial tail, fixed-sequence from 1.0 down"


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


def choose_threshold(confidence: np.ndarray, correct: np.ndarray, attempted: np.ndarray, *,
                     alpha: float, delta: float, grid: np.ndarray | None = None) -> ThresholdChoice:
    """The lowest grid threshold whose error rate among answered questions is at most ``alpha``
    with probability ``1 - delta`` (Learn-then-Test, fixed sequence from the highest threshold)."""
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
    chosen: tuple[float, int, int, float] | None = None
    for t, m, e in zip(thresholds, answered_at, wrong_at, strict=True):
        if binomial_tail(0, int(m), alpha) > delta:
            continue  # too few answered for any evidence: the sequence has not started
        p = binomial_tail(int(e), int(m), alpha)
        if p > delta:
            break
        chosen = (float(t), int(m), int(e), p)
    if chosen is None:
        return ThresholdChoice(threshold=None, alpha=alpha, delta=delta, n=len(conf), answered=0, errors=0)
    t, m, e, p = chosen
    return ThresholdChoice(threshold=t, alpha=alpha, delta=delta, n=len(conf), answered=m, errors=e,
                           p_value=p)


def abstains(confidence: np.ndarray, choice: ThresholdChoice) -> np.ndarray:
    """Whether each answer abstains under ``choice`` (True below the threshold, everywhere when it
    is None; a missing confidence, NaN, abstains)."""
    conf = np.asarray(confidence, dtype=np.float64)
    if choice.threshold is None:
        return np.ones(conf.shape, dtype=bool)
    return ~(conf >= choice.threshold)
