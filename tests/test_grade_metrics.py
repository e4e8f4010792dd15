"""SimpleQA's own metrics of a report row, from its grades, against counts done by hand."""

from __future__ import annotations

import pytest

from harness.grade_metrics import simpleqa_metrics
from harness.outcomes import Outcome, count


def _counts(*grades: str | None) -> dict[str, int]:
    outcomes = [Outcome(example_id=f"e{i}", grade=g, confidence=0.5) for i, g in enumerate(grades)]
    return count(outcomes).counts


def test_shares_accuracy_given_attempted_and_f_score_by_hand() -> None:
    # 10 judged: 4 correct, 4 incorrect, 2 not attempted; one judge error left out
    grades = ["correct"] * 4 + ["incorrect"] * 4 + ["not_attempted"] * 2 + [None]
    m = simpleqa_metrics(_counts(*grades))
    assert m["n"] == 10
    assert (m["correct"], m["incorrect"], m["not_attempted"]) == (0.4, 0.4, 0.2)
    assert m["accuracy_given_attempted"] == 0.5  # 4 / (4 + 4)
    assert m["f_score"] == pytest.approx(2 * 0.4 * 0.5 / (0.4 + 0.5))  # 0.444...


def test_the_f_score_is_0_when_nothing_is_correct() -> None:
    m = simpleqa_metrics(_counts("incorrect", "not_attempted", "incorrect"))
    assert (m["correct"], m["accuracy_given_attempted"], m["f_score"]) == (0.0, 0.0, 0.0)


def test_nothing_attempted_leaves_accuracy_given_attempted_undefined() -> None:
    m = simpleqa_metrics(_counts("not_attempted", "not_attempted"))
    assert (m["not_attempted"], m["accuracy_given_attempted"], m["f_score"]) == (1.0, None, 0.0)


def test_the_not_attempted_policy_changes_no_simpleqa_metric() -> None:
    outcomes = [Outcome(example_id=f"e{i}", grade=g, confidence=0.5)
                for i, g in enumerate(["correct", "incorrect", "not_attempted"])]
    assert simpleqa_metrics(count(outcomes, not_attempted="exclude").counts) == simpleqa_metrics(
        count(outcomes).counts)


def test_no_judged_example_gives_no_value() -> None:
    assert simpleqa_metrics(_counts(None))["f_score"] is None
