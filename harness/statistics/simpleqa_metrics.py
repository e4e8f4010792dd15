"""SimpleQA's own metrics of a report row, computed from its grades rather than from
correct/incorrect alone (which is all a registered metric receives).

As openai/simple-evals ``simpleqa_eval.py`` aggregates them, over the judged examples of the
row (a judge error is no grade and is left out, as everywhere):

- ``correct``, ``incorrect``, ``not_attempted``: the share of each grade;
- ``accuracy_given_attempted``: correct / (correct + incorrect), ``None`` when nothing was
  attempted;
- ``f_score``: the harmonic mean of ``correct`` and ``accuracy_given_attempted``, 0 when
  nothing is correct.

They do not depend on the ``not_attempted`` counting policy, which decides only what the
calibration metrics see. (When nothing is attempted the reference prints 0 for
``accuracy_given_attempted``; here it is ``None``: undefined, shown as n/a.)

``simpleqa_intervals`` adds bootstrap intervals: each of the five gets a percentile
interval over the row's judged examples (``simpleqa["ci"]``), and each trainer's comparison
gets the paired change of each, trained minus baseline, on the examples both had judged
(``comparison["simpleqa_changes"]``). They resample as every other metric of the report
does: the same unit (groups, or examples), the same number of resamples and the same seed,
through ``harness.statistics.bootstrap`` — the grade of each example is coded in the array a metric
receives as ``correct`` (1 correct, 0 incorrect, -1 not attempted).

``hle_accuracy``: Humanity's Last Exam's accuracy, for a judge that declares HLE's counting
(``unjudged_is_wrong``, the ``hle`` judge): correct over *every* question of the row, an
unjudged one counted wrong (HLE's ``sum(correct) / n`` over the whole question set), with
the half-width HLE prints, ``1.96 * sqrt(p (100 - p) / n)`` in percent. The calibration
metrics still see only the judged examples, as HLE's ``calib_err`` does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from harness.statistics.bootstrap import (
    draw,
    paired_bootstrap_ci,
    percentile_interval,
    replicates,
    vectorized,
)
from harness.statistics.outcomes import Outcome

NAMES = ("correct", "incorrect", "not_attempted", "accuracy_given_attempted", "f_score")


def simpleqa_metrics(counts: Mapping[str, int]) -> dict[str, Any]:
    """SimpleQA's metrics from a row's ``counts`` (``harness.statistics.outcomes.Counted.counts``)."""
    judged = counts["examples"] - counts["judge_errors"]
    correct, abstained = counts["correct"], counts["not_attempted"]
    incorrect = judged - abstained - correct
    out: dict[str, Any] = {"n": judged, **dict.fromkeys(NAMES)}
    if not judged:
        return out
    out.update(correct=correct / judged, incorrect=incorrect / judged, not_attempted=abstained / judged)
    attempted = correct + incorrect
    given = correct / attempted if attempted else None
    out["accuracy_given_attempted"] = given
    both = out["correct"] + (given or 0.0)
    out["f_score"] = 2 * out["correct"] * given / both if correct and given is not None else 0.0
    return out


def hle_accuracy(counts: Mapping[str, int]) -> dict[str, Any]:
    """HLE's accuracy of a row from its ``counts``: ``value`` (a fraction), and ``percent`` and
    ``half_width`` as HLE prints them (percent, rounded to 2 places)."""
    n = counts["examples"]
    if not n:
        return {"n": 0, "value": None, "percent": None, "half_width": None, "unjudged": 0}
    percent = round(100 * counts["correct"] / n, 2)
    return {"n": n, "value": counts["correct"] / n, "percent": percent,
            "half_width": round(1.96 * math.sqrt(percent * (100 - percent) / n), 2),
            "unjudged": counts["judge_errors"]}


#: a grade as the number the bootstrapped functions below receive in place of ``correct``
GRADE_CODES = {"correct": 1.0, "incorrect": 0.0, "not_attempted": -1.0}


def _tallies(codes: np.ndarray, resamples: Any) -> dict[float, np.ndarray]:
    """Per resample (one width): how many answers of each grade code, and ``"n"`` its size;
    counted once per resamples and codes (``Resamples.memo``) for all five metrics."""
    def count() -> dict[Any, np.ndarray]:
        drawn = codes[resamples.indices]
        out: dict[Any, np.ndarray] = {code: np.count_nonzero(drawn == code, axis=1).astype(np.float64)
                                      for code in (1.0, 0.0, -1.0)}
        out["n"] = np.full(len(drawn), drawn.shape[1], dtype=np.float64)
        return out
    return resamples.memo("simpleqa-tallies", count, codes)


def _share(code: float) -> Callable[[np.ndarray, np.ndarray], float]:
    def batched(_: np.ndarray, codes: np.ndarray, resamples: Any) -> np.ndarray:
        t = _tallies(codes, resamples)
        return t[code] / t["n"]

    @vectorized(batched)
    def share(_: np.ndarray, codes: np.ndarray) -> float:
        return float(np.mean(codes == code))
    return share


def _given(t: dict[Any, np.ndarray]) -> np.ndarray:
    attempted = t[1.0] + t[0.0]
    return np.where(attempted > 0, t[1.0] / np.maximum(attempted, 1), np.nan)


def _given_attempted_batched(_: np.ndarray, codes: np.ndarray, resamples: Any) -> np.ndarray:
    return _given(_tallies(codes, resamples))


@vectorized(_given_attempted_batched)
def _given_attempted(_: np.ndarray, codes: np.ndarray) -> float:
    attempted = int(np.count_nonzero(codes >= 0))
    return float(np.count_nonzero(codes == 1)) / attempted if attempted else float("nan")


def _f_score_batched(_: np.ndarray, codes: np.ndarray, resamples: Any) -> np.ndarray:
    t = _tallies(codes, resamples)
    share, given = t[1.0] / t["n"], _given(t)
    with np.errstate(invalid="ignore", divide="ignore"):
        f = 2 * share * given / (share + given)
    return np.where((share == 0) | np.isnan(given), 0.0, f)


@vectorized(_f_score_batched)
def _f_score(confidence: np.ndarray, codes: np.ndarray) -> float:
    correct = float(np.mean(codes == 1))
    given = _given_attempted(confidence, codes)
    if not correct or math.isnan(given):
        return 0.0
    return 2 * correct * given / (correct + given)


#: SimpleQA's metrics as functions of graded codes (``NAMES``' order)
CODED: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "correct": _share(1.0), "incorrect": _share(0.0), "not_attempted": _share(-1.0),
    "accuracy_given_attempted": _given_attempted, "f_score": _f_score,
}


def judged(outcomes: Sequence[Outcome]) -> tuple[list[str], np.ndarray, list[str]]:
    """The judged examples of a row in example-id order: ids, grade codes and bootstrap groups."""
    kept = sorted((o for o in outcomes if o.grade is not None), key=lambda o: o.example_id)
    codes = np.array([GRADE_CODES[o.grade] for o in kept if o.grade], dtype=np.float64)
    return ([o.example_id for o in kept], codes,
            [o.group if o.group is not None else o.example_id for o in kept])


def _intervals(codes: np.ndarray, groups: list[str] | None, resamples: int, seed: int
               ) -> dict[str, list[float] | None]:
    draws = draw(len(codes), resamples, seed, groups)
    dummy = np.zeros(len(codes))
    return {name: percentile_interval(replicates(fn, dummy, codes, draws)) for name, fn in CODED.items()}


def _changes(base: tuple[list[str], np.ndarray, list[str]], trained: tuple[list[str], np.ndarray, list[str]],
             by_group: bool, resamples: int, seed: int) -> dict[str, Any]:
    common = sorted(set(base[0]) & set(trained[0]))
    if not common:
        return {}
    where_b, where_t = ({i: k for k, i in enumerate(side[0])} for side in (base, trained))
    b = base[1][[where_b[i] for i in common]]
    t = trained[1][[where_t[i] for i in common]]
    groups = [base[2][where_b[i]] for i in common] if by_group else None
    draws = draw(len(common), resamples, seed, groups)
    dummy = np.zeros(len(common))
    out: dict[str, Any] = {"n": len(common)}
    for name, fn in CODED.items():
        before, after = fn(dummy, b), fn(dummy, t)
        value = None if math.isnan(before) or math.isnan(after) else after - before
        out[name] = {"value": value, "ci": paired_bootstrap_ci(fn, dummy, b, dummy, t, resamples=draws)}
    return out


def simpleqa_intervals(rows: Sequence[dict[str, Any]], comparisons: Sequence[dict[str, Any]],
                       outcomes: Mapping[str, Sequence[Outcome]], *, by_group: bool, resamples: int,
                       seed: int) -> None:
    """Add the bootstrap intervals of SimpleQA's metrics to the report's ``rows`` (their
    ``simpleqa["ci"]``) and the paired changes to each trainer's entry of ``comparisons``
    (``simpleqa_changes``). ``outcomes``: each row's outcomes by its key (``RowKey.slug``);
    ``by_group``: resample groups, as the report's other intervals do."""
    coded = {slug: judged(items) for slug, items in outcomes.items()}
    for row in rows:
        sq, found = row.get("simpleqa"), coded.get(row.get("key", ""))
        if not sq or found is None or not len(found[1]) or row.get("calibrator"):
            continue  # a calibrator changes confidences, never grades
        sq["ci"] = _intervals(found[1], found[2] if by_group else None, resamples, seed)
    for comp in comparisons:
        base = coded.get(f"baseline__{comp['extractor']}")
        trained = coded.get(f"{comp['trainer']}__{comp['extractor']}")
        if base is not None and trained is not None:
            comp["simpleqa_changes"] = _changes(base, trained, by_group, resamples, seed)
