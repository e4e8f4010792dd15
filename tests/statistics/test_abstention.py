"""``coverage_at_risk``: every report row's abstention at the run's risk level, its threshold chosen
on other folds of the row's answers, and the ``risk`` verdict that ``check --require risk`` gates on."""

from __future__ import annotations

import numpy as np
from risk_helpers import calibrated

from harness.machinery.config import Config
from harness.statistics.abstention import coverage_at_risk, describe, risk_arrays, risk_verdict
from harness.statistics.assessment import BASELINE, RowKey, Settings, assess
from harness.statistics.criteria import thresholds_from
from harness.statistics.outcomes import Outcome
from harness.statistics.risk_control import choose_threshold
from harness.statistics.splits import group_folds


def test_each_fold_is_measured_under_a_threshold_chosen_on_the_other_folds_only():
    items = calibrated()
    result = coverage_at_risk(items, alpha=0.3, delta=0.1, resamples=200)
    conf, correct, attempted, groups = risk_arrays(items)
    fold_of = np.array(group_folds(groups, 5, 0))
    answered = 0
    for chosen in result["thresholds"]:
        inside = fold_of == chosen["fold"] - 1
        again = choose_threshold(conf[~inside], correct[~inside], attempted[~inside], alpha=0.3, delta=0.1)
        assert chosen["threshold"] == again.threshold and chosen["measured_on"] == inside.sum()
        answered += int((conf[inside] >= again.threshold).sum()) if again.threshold is not None else 0
    assert result["answered"] == answered and result["n"] == 600
    assert 0 < result["coverage"]["value"] < 1
    low, high = result["coverage"]["ci"]
    assert low <= result["coverage"]["value"] <= high
    assert result["risk"]["value"] <= 0.3  # realised on answers that did not choose it


def test_a_judge_error_is_an_answered_error_and_a_not_attempted_answer_is_never_answered():
    items = [Outcome(example_id="a", grade=None, confidence=0.9),
             Outcome(example_id="b", grade="not_attempted", confidence=0.99),
             Outcome(example_id="c", grade="correct", confidence=None)]
    conf, correct, attempted, groups = risk_arrays(items, missing_confidence=1.0)
    assert list(conf) == [0.9, 0.99, 1.0]  # missing confidence imputed
    assert list(correct) == [False, False, True] and list(attempted) == [True, False, True]
    assert groups == ["a", "b", "c"]


def test_a_row_that_controls_nothing_abstains_on_everything_and_fails_the_gate():
    rng = np.random.default_rng(1)
    items = [Outcome(example_id=f"q{i}", grade="correct" if rng.random() < 0.5 else "incorrect",
                     confidence=0.95, group=f"g{i // 3}") for i in range(300)]
    result = coverage_at_risk(items, alpha=0.1, delta=0.1, resamples=100)
    assert result["abstains_on_everything"] and result["coverage"]["value"] == 0.0
    assert result["risk"] == {"value": None, "ci": None}
    assert "abstains on everything" in describe(result)
    verdict = risk_verdict(result)
    assert verdict["outcome"] == "fail" and verdict["name"] == "risk"


def test_one_group_cannot_be_cross_fitted_and_says_why():
    items = [Outcome(example_id=f"q{i}", grade="correct", confidence=0.9, group="all") for i in range(50)]
    result = coverage_at_risk(items, alpha=0.1, delta=0.1)
    assert "fewer than 2 groups" in result["error"]
    assert risk_verdict(result)["outcome"] == "fail"


def _result(risk: float, ci: list[float] | None, answered: int = 100) -> dict:
    return {"alpha": 0.1, "delta": 0.1, "n": 300, "answered": answered, "errors": int(risk * answered),
            "coverage": {"value": answered / 300, "ci": [0.3, 0.37]}, "risk": {"value": risk, "ci": ci},
            "abstains_on_everything": False, "thresholds": []}


def test_the_risk_verdict_passes_fails_or_is_inconclusive_on_the_realised_risk_interval():
    assert risk_verdict(_result(0.04, [0.01, 0.09]))["outcome"] == "pass"  # upper bound <= alpha
    assert risk_verdict(_result(0.2, [0.12, 0.28]))["outcome"] == "fail"  # lower bound > alpha
    assert risk_verdict(_result(0.08, [0.03, 0.14]))["outcome"] == "inconclusive"  # straddles alpha
    assert risk_verdict(_result(0.08, None))["outcome"] == "inconclusive"
    assert risk_verdict(_result(0.08, [0.03, 0.14]), point=True)["outcome"] == "pass"
    verdict = risk_verdict(_result(0.04, [0.01, 0.09]))
    assert verdict["threshold"] == 0.1 and verdict["intervals"] == {"risk": [0.01, 0.09]}


def test_every_report_row_gets_coverage_at_risk_and_the_gate_counts_only_when_required():
    config = Config.load()
    base, trained = calibrated(seed=0), calibrated(seed=1)
    rows = {RowKey(label=BASELINE, extractor="verbalized"): base,
            RowKey(label="explicit", extractor="verbalized"): trained}
    seen = {}
    for require, alpha in (([], 0.05), (["risk"], 0.05), (["risk"], 0.3)):
        limits = {**thresholds_from(config), "require": require, "risk_alpha": alpha}
        settings = Settings(thresholds=limits, config=config, metric_names=["accuracy"], resamples=100)
        assessed = assess(rows, {"explicit": "verbalized"}, settings, held_out=True)
        assert all(row["coverage_at_risk"]["alpha"] == alpha for row in assessed["rows"])
        comp = assessed["comparisons"][0]
        trained_row = next(r for r in assessed["rows"] if r["label"] == "explicit")
        assert comp["risk"]["value"] == trained_row["coverage_at_risk"]["risk"]["value"]
        seen[(bool(require), alpha)] = (comp["risk"]["outcome"], comp["not_passed"].get("risk"))
    # at 5% the row abstains on everything: reported, and gating only when required
    assert seen[(False, 0.05)] == ("fail", None) and seen[(True, 0.05)] == ("fail", "fail")
    assert seen[(True, 0.3)] == ("pass", None)
    alone = assess(rows, {"explicit": "verbalized"}, settings, held_out=True, rows=False)
    assert alone["comparisons"][0]["risk"] == comp["risk"]  # check computes the same verdict
