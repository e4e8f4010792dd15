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
calibration metrics see.
"""

from __future__ import annotations

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
