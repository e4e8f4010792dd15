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

``hle_accuracy``: Humanity's Last Exam's accuracy, for a judge that declares HLE's counting
(``unjudged_is_wrong``, the ``hle`` judge): correct over *every* question of the row, an
unjudged one counted wrong (HLE's ``sum(correct) / n`` over the whole question set), with
the half-width HLE prints, ``1.96 * sqrt(p (100 - p) / n)`` in percent. The calibration
metrics still see only the judged examples, as HLE's ``calib_err`` does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

NAMES = ("correct", "incorrect", "not_attempted", "accuracy_given_attempted", "f_score")


def simpleqa_metrics(counts: Mapping[str, int]) -> dict[str, Any]:
    """SimpleQA's metrics from a row's ``counts`` (``harness.outcomes.Counted.counts``)."""
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
