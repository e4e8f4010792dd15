"""SimpleQA's own metrics of a report row, from its grades, against counts done by hand; their
bootstrap intervals and paired changes, resampled as every other metric; HLE's accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from harness.machinery.config import Config
from harness.statistics.assessment import BASELINE, RowKey, Settings, assess
from harness.statistics.criteria import thresholds_from
from harness.statistics.outcomes import Outcome, count
from harness.statistics.simpleqa_metrics import CODED, NAMES, hle_accuracy, judged, simpleqa_metrics


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


def _graded(seed: int, n: int, grades: tuple[str, ...], groups: int | None = None) -> list[Outcome]:
    rng = np.random.default_rng(seed)
    picks = rng.choice(grades, size=n)
    return [Outcome(example_id=f"q{i:03d}", grade=str(g), confidence=float(rng.choice([0.3, 0.6, 0.9])),
                    group=None if groups is None else f"g{i % groups}")
            for i, g in enumerate(picks)]


def _assessed(base: list[Outcome], trained: list[Outcome], bootstrap: str = "group") -> dict:
    config = Config.load()
    settings = Settings(thresholds=thresholds_from(config), config=config, metric_names=["accuracy"],
                        resamples=200, bootstrap=bootstrap)
    rows = {RowKey(label=BASELINE, extractor="verbalized"): base,
            RowKey(label="explicit", extractor="verbalized"): trained}
    return assess(rows, {"explicit": "verbalized"}, settings, held_out=True)


@pytest.mark.parametrize("groups", [None, 7])
def test_simpleqa_intervals_resample_as_every_other_metric(groups: int | None) -> None:
    """With no abstention, SimpleQA's correct share is the accuracy metric on the same examples:
    the same resampling unit, resamples and seed must give it the very same interval."""
    base = _graded(0, 120, ("correct", "incorrect"), groups)
    trained = _graded(1, 120, ("correct", "incorrect"), groups)
    assessed = _assessed(base, trained)
    for row in assessed["rows"]:
        assert row["simpleqa"]["ci"]["correct"] == row["metrics"]["accuracy"]["ci"]
    comp = assessed["comparisons"][0]
    assert comp["simpleqa_changes"]["correct"]["ci"] == comp["changes"]["accuracy"]["ci"]
    assert comp["simpleqa_changes"]["correct"]["value"] == pytest.approx(comp["changes"]["accuracy"]["diff"])


def test_every_simpleqa_metric_gets_an_interval_around_its_value_and_a_paired_change() -> None:
    grades = ("correct", "incorrect", "not_attempted")
    base, trained = _graded(2, 200, grades), _graded(3, 200, grades)
    assessed = _assessed(base, trained, bootstrap="example")
    row = assessed["rows"][0]
    for name in NAMES:
        low, high = row["simpleqa"]["ci"][name]
        assert low <= row["simpleqa"][name] <= high, name
    changes = assessed["comparisons"][0]["simpleqa_changes"]
    assert changes["n"] == 200
    for name in NAMES:
        expected = assessed["rows"][1]["simpleqa"][name] - row["simpleqa"][name]
        assert changes[name]["value"] == pytest.approx(expected), name
        low, high = changes[name]["ci"]
        assert low <= changes[name]["value"] <= high, name


def test_the_coded_metrics_are_simpleqas_own_bit_for_bit() -> None:
    outcomes = _graded(4, 97, ("correct", "incorrect", "not_attempted"))
    _, codes, _ = judged(outcomes)
    by_counts = simpleqa_metrics(count(outcomes).counts)
    dummy = np.zeros(len(codes))
    assert {name: fn(dummy, codes) for name, fn in CODED.items()} == {n: by_counts[n] for n in NAMES}


def test_hle_accuracy_counts_an_unjudged_question_wrong() -> None:
    counts = _counts(*(["correct"] * 3 + ["incorrect"] * 4 + [None]))
    acc = hle_accuracy(counts)
    assert (acc["value"], acc["n"], acc["unjudged"]) == (3 / 8, 8, 1)
    assert (acc["percent"], acc["half_width"]) == (37.5, round(1.96 * (37.5 * 62.5 / 8) ** 0.5, 2))


def test_the_batched_forms_of_simpleqas_metrics_equal_the_one_resample_at_a_time_values() -> None:
    """The bootstrap scores SimpleQA's metrics on all resamples at once; each value equals the plain
    function's on that resample — for example draws, groups of one size and groups of several, and
    for resamples where nothing is attempted (accuracy given attempted undefined, F-score 0)."""
    from harness.statistics.bootstrap import draw, replicates
    from harness.statistics.simpleqa_metrics import CODED

    rng = np.random.default_rng(1)
    uneven = [f"g{int(rng.integers(0, 60))}" for _ in range(300)]
    for codes, groups in [(rng.choice([1.0, 0.0, -1.0], size=300, p=[0.3, 0.3, 0.4]), None),
                          (rng.choice([1.0, 0.0, -1.0], size=300), [f"g{i // 3}" for i in range(300)]),
                          (rng.choice([1.0, 0.0, -1.0], size=300), uneven),
                          (np.r_[np.full(297, -1.0), [1.0, 0.0, 1.0]], None)]:
        draws, dummy = draw(300, 200, 0, groups), np.zeros(300)
        for name, fn in CODED.items():
            one_at_a_time = replicates(lambda c, k, fn=fn: fn(c, k), dummy, codes, draws)
            assert np.allclose(replicates(fn, dummy, codes, draws), one_at_a_time, equal_nan=True), name
