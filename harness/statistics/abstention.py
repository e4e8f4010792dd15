"""Coverage at a risk level: how much a report row answers under a threshold chosen with a guarantee.

Every report row gets ``coverage_at_risk``: at the run's risk level ``alpha`` and failure
probability ``delta`` (``[criteria]`` ``risk_alpha`` and ``risk_delta``, default 0.1 each), the
share of the row's evaluated answers that are answered under a threshold chosen by
``harness.statistics.risk_control.choose_threshold``, and the realised error rate among them.

No answer both chooses the threshold and measures it: the row's evaluated answers are dealt into
``FOLDS`` folds by group (``harness.statistics.splits.group_folds``, the bootstrap's unit, the same
dealing as the post-hoc cross-fitting); each fold is measured under the threshold chosen on the
other folds. The same rule holds for every kind of row, with no knowledge of what made it:

- baseline and trained rows: their own (raw) confidences, cross-fitted as above;
- ``+ calibrator`` rows under ``crossfit``: their cross-fitted confidences, cross-fitted as above.
  A fold's threshold is chosen on other folds' calibrated confidences, whose maps were fitted on
  answers that include that fold's (the map never saw the answer it maps; the threshold never saw
  the answers it is measured on): a second-order dependence, which ``bench/abstention.py`` avoids
  by measuring on a separate pool;
- ``+ calibrator`` rows under ``--calibration-size``: the map was fitted on the calibration part,
  which is not among the row's answers; the threshold is cross-fitted on the rest as above, so the
  calibration part fits the map and nothing else.

Counting (``risk_arrays``): a not-attempted answer is an abstention (never answered); a judge
error is an answered error — never dropped, unlike the metrics' counting; a missing confidence is
imputed as for the metrics. The intervals are percentile bootstraps over groups (or examples) of
the row's answers, each answer under its fold's threshold (the thresholds are not re-chosen per
resample: the interval is of the measurement).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from harness.statistics.bootstrap import DEFAULT_RESAMPLES, draw, percentile_interval
from harness.statistics.criteria import Verdict
from harness.statistics.outcomes import MISSING_CONFIDENCE, Outcome
from harness.statistics.risk_control import abstains, choose_threshold
from harness.statistics.splits import group_folds

#: folds of the threshold's cross-fitting (as the post-hoc maps')
FOLDS = 5


def risk_arrays(outcomes: Sequence[Outcome], missing_confidence: float = MISSING_CONFIDENCE
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(confidence, correct, attempted, groups) of every outcome in example-id order: judge errors
    wrong, not-attempted answers unanswerable, missing confidences imputed."""
    ordered = sorted(outcomes, key=lambda o: o.example_id)
    conf = np.array([missing_confidence if o.confidence is None else o.confidence for o in ordered],
                    dtype=np.float64)
    correct = np.array([o.grade == "correct" for o in ordered], dtype=bool)
    attempted = np.array([o.grade != "not_attempted" for o in ordered], dtype=bool)
    groups = [o.group if o.group is not None else o.example_id for o in ordered]
    return conf, correct, attempted, groups


def _interval(answered: np.ndarray, errors: np.ndarray, groups: Sequence[Hashable] | None,
              resamples: int, seed: int) -> tuple[list[float] | None, list[float] | None]:
    """Percentile intervals of the coverage and of the error rate among answered."""
    draws = draw(len(answered), resamples, seed, groups)
    cover, risk = np.empty(draws.size), np.full(draws.size, np.nan)
    for r, idx in enumerate(draws.each()):
        took, wrong = answered[idx].sum(), errors[idx].sum()
        cover[r] = took / len(idx)
        if took:
            risk[r] = wrong / took
    return percentile_interval(cover), percentile_interval(risk)


def coverage_at_risk(outcomes: Sequence[Outcome], *, alpha: float, delta: float,
                     missing_confidence: float = MISSING_CONFIDENCE, folds: int = FOLDS, seed: int = 0,
                     resamples: int = DEFAULT_RESAMPLES, by_group: bool = True) -> dict[str, Any]:
    """A row's ``coverage_at_risk``: ``alpha``, ``delta``, ``n``, ``answered``, ``errors``,
    ``coverage`` and ``risk`` (each ``{"value", "ci"}``), ``thresholds`` (per fold, the choice's
    record), ``abstains_on_everything``; or ``error`` when the row cannot be cross-fitted."""
    conf, correct, attempted, groups = risk_arrays(outcomes, missing_confidence)
    out: dict[str, Any] = {"alpha": alpha, "delta": delta, "n": len(conf), "scheme": "grouped cross-fit"}
    fold_of = np.array(group_folds(groups, folds, seed), dtype=np.int64) if len(conf) else np.array([])
    used = sorted(set(fold_of.tolist()))
    if len(used) < 2:
        return {**out, "error": "fewer than 2 groups: the threshold cannot be chosen apart from its answers"}
    answered = np.zeros(len(conf), dtype=bool)
    choices = []
    for fold in used:
        inside = fold_of == fold
        choice = choose_threshold(conf[~inside], correct[~inside], attempted[~inside], alpha=alpha,
                                  delta=delta)
        answered[inside] = attempted[inside] & ~abstains(conf[inside], choice)
        choices.append({"fold": fold + 1, "measured_on": int(inside.sum()), **choice.to_dict()})
    errors = answered & ~correct
    took, wrong = int(answered.sum()), int(errors.sum())
    cover_ci, risk_ci = _interval(answered, errors, groups if by_group else None, resamples, seed)
    return {**out, "folds": len(used), "answered": took, "errors": wrong,
            "coverage": {"value": took / len(conf), "ci": cover_ci},
            "risk": {"value": wrong / took if took else None, "ci": risk_ci if took else None},
            "abstains_on_everything": all(c["threshold"] is None for c in choices),
            "thresholds": choices}


def describe(result: Mapping[str, Any] | None) -> str:
    """One line for the report: coverage and realised risk with their intervals, or why none."""
    if not result:
        return "n/a"
    if result.get("error"):
        return f"n/a ({result['error']})"
    head = f"at risk {result['alpha']:g} (delta {result['delta']:g}): "
    if result["abstains_on_everything"]:
        return head + "no threshold controls the risk on any fold: abstains on everything (coverage 0)"
    cover, risk = result["coverage"], result["risk"]
    text = head + f"answers {_share(cover)}"
    if risk["value"] is not None:
        text += f", error rate among answered {_share(risk)}"
    return text


def _share(figure: Mapping[str, Any]) -> str:
    ci = figure.get("ci")
    bounds = f" [{ci[0]:.1%}, {ci[1]:.1%}]" if ci else ""
    return f"{figure['value']:.1%}{bounds}"


def risk_verdict(result: Mapping[str, Any] | None, *, point: bool = False) -> dict[str, Any]:
    """``risk`` for ``harness check --require risk``, on a row's ``coverage_at_risk``:

    - fail when the row abstains on everything (coverage 0: nothing is answered at this risk
      level), or when the realised risk's 95% CI lies above ``alpha`` (its lower bound > alpha);
    - pass when coverage > 0 and the CI's upper bound is at or below ``alpha``;
    - inconclusive otherwise (the CI straddles ``alpha``, or there is none).

    ``point``: the realised risk's point estimate decides instead (pass at or below alpha)."""
    if not result or result.get("error"):
        reason = (result or {}).get("error", "no coverage_at_risk")
        return Verdict(name="risk", outcome="fail", value=None, threshold=None,
                       detail=f"n/a: {reason}").to_dict()
    alpha, risk = float(result["alpha"]), result["risk"]
    line = describe(result)
    if result["answered"] == 0:
        outcome = "fail"
    elif point:
        outcome = "pass" if risk["value"] <= alpha else "fail"
    elif risk["ci"] is None:
        outcome = "inconclusive"
    else:
        outcome = "pass" if risk["ci"][1] <= alpha else "fail" if risk["ci"][0] > alpha else "inconclusive"
    reading = "point" if point else "interval"
    intervals = {"risk": list(risk["ci"])} if risk.get("ci") else {}
    return Verdict(name="risk", outcome=outcome, value=risk["value"], threshold=alpha, detail=line,
                   reading=reading, intervals=intervals).to_dict()
