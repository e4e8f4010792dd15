"""``assess``: the report's rows and its paired comparisons see the examples in one canonical
order, so each quantity has one value whatever the order of the outcomes."""

from __future__ import annotations

import numpy as np

from harness.machinery.config import Config
from harness.statistics.assessment import BASELINE, RowKey, Settings, assess
from harness.statistics.criteria import thresholds_from
from harness.statistics.outcomes import Outcome


def _outcomes(seed: int, n: int = 450) -> list[Outcome]:
    rng = np.random.default_rng(seed)
    confidence = rng.choice([0.3, 0.6, 0.9], size=n)  # integer percentages make ties the norm
    correct = rng.random(n) < confidence
    return [Outcome(example_id=f"q{i:03d}", grade="correct" if hit else "incorrect", confidence=float(c))
            for i, (c, hit) in enumerate(zip(confidence, correct, strict=True))]


def _assess(base: list[Outcome], trained: list[Outcome]) -> dict:
    config = Config.load()
    settings = Settings(thresholds=thresholds_from(config), config=config,
                        metric_names=["hle_calib_err", "accuracy"], resamples=20)
    rows = {RowKey(label=BASELINE, extractor="verbalized"): base,
            RowKey(label="explicit", extractor="verbalized"): trained}
    return assess(rows, {"explicit": "verbalized"}, settings, held_out=True)


def test_tied_confidences_in_two_input_orders_give_one_value_in_both_tables() -> None:
    base, trained = _outcomes(0), _outcomes(1)
    rng = np.random.default_rng(2)
    shuffled = [base[i] for i in rng.permutation(len(base))]
    values = []
    for order in (base, shuffled, base[::-1]):
        assessed = _assess(order, trained)
        row = assessed["rows"][0]["metrics"]["hle_calib_err"]["value"]
        paired = assessed["comparisons"][0]["changes"]["hle_calib_err"]["a"]
        assert row == paired  # the metric table and the paired table agree
        values.append(row)
    assert len(set(values)) == 1  # and the input order changes nothing
    simpleqa = assessed["rows"][0]["simpleqa"]
    assert simpleqa["n"] == 450 and simpleqa["not_attempted"] == 0.0


def test_the_verdicts_alone_are_the_verdicts_of_the_full_assessment() -> None:
    """``harness check`` asks for the verdicts only (``rows=False``: no row tables, no SimpleQA
    intervals): every comparison and verdict is the one the full assessment gives."""
    config = Config.load()
    settings = Settings(thresholds=thresholds_from(config), config=config, resamples=200)
    base, trained = _outcomes(0), _outcomes(1)
    mapped = [o.with_confidence(0.5 + 0.4 * (o.confidence - 0.6)) for o in base]
    rows = {RowKey(label=BASELINE, extractor="verbalized"): base,
            RowKey(label="explicit", extractor="verbalized"): trained,
            RowKey(label=BASELINE, extractor="verbalized", calibrator="isotonic"): mapped}
    fits = {RowKey(label=BASELINE, extractor="verbalized", calibrator="isotonic"):
            {"selection": {"cv_brier": 0.2}}}
    full = assess(rows, {"explicit": "verbalized"}, settings, held_out=True, fits=fits)
    alone = assess(rows, {"explicit": "verbalized"}, settings, held_out=True, fits=fits, rows=False)
    assert alone["rows"] == [] and len(full["rows"]) == 3
    drop = ("simpleqa_changes",)
    assert [{k: v for k, v in c.items() if k not in drop} for c in alone["comparisons"]] == \
        [{k: v for k, v in c.items() if k not in drop} for c in full["comparisons"]]
    assert full["comparisons"][0]["beats_posthoc"]["against"] == "baseline[verbalized] + isotonic"


def test_a_model_that_stops_answering_right_and_says_zero_never_beats_the_post_hoc_bar() -> None:
    """Each row's Brier score is of its own answers: a model that gets 4% right and says 0 everywhere
    has a Brier score of 0.04 and would "beat" every map. Found on a fresh world (rl, world 105:
    accuracy -59.6 points, beats_posthoc pass). The post-hoc verdicts pass only where the accuracy
    criterion passes: here it fails, so both fail."""
    config = Config.load()
    settings = Settings(thresholds=thresholds_from(config), config=config, resamples=200)
    base = [Outcome(example_id=f"q{i:03d}", grade="correct" if i % 3 else "incorrect",
                    confidence=0.9 if i % 3 else 0.6, group=f"e{i // 3}") for i in range(450)]
    mapped = [o.with_confidence(0.8 if o.grade == "correct" else 0.5) for o in base]  # Brier 0.11
    collapsed = [Outcome(example_id=o.example_id, grade="correct" if i % 25 == 0 else "incorrect",
                         confidence=0.0, group=o.group) for i, o in enumerate(base)]
    isotonic = RowKey(label=BASELINE, extractor="verbalized", calibrator="isotonic")
    rows = {RowKey(label=BASELINE, extractor="verbalized"): base,
            RowKey(label="rl", extractor="verbalized"): collapsed, isotonic: mapped}
    assessed = assess(rows, {"rl": "verbalized"}, settings, held_out=True,
                      fits={isotonic: {"selection": {"cv_brier": 0.1}}})
    comp = assessed["comparisons"][0]
    accuracy = next(v for v in comp["criteria"] if v["name"] == "accuracy")
    assert accuracy["outcome"] == "fail"
    for name in ("beats_posthoc", "adds_to_posthoc"):
        verdict = comp[name]
        if verdict is None:
            continue  # adds_to_posthoc needs rl + c rows, which this run has none of
        assert verdict["ci"][1] < 0  # its Brier score (0.04) is lower: on Brier alone it would pass
        assert verdict["outcome"] == "fail" and not verdict["passed"]
        assert verdict["accuracy_gate"] == "fail" and "accuracy criterion is fail" in verdict["detail"]
    assert comp["beats_posthoc"] is not None
