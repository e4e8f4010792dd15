"""Success criteria: one verdict per criterion, with the numbers behind it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.errors import InputError, ParameterError
from harness.machinery.config import Config
from harness.plugins.metrics import debiased_calib_err
from harness.statistics.criteria import DEFAULTS, Verdict, evaluate_criteria, tenth_shares, thresholds_from
from harness.statistics.outcomes import Answered


def baseline(n: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Overconfident: says 0.6-1.0, right about half the time, more often when more confident."""
    rng = np.random.default_rng(seed)
    confidence = rng.uniform(0.6, 1.0, n)
    return confidence, rng.random(n) < (confidence - 0.35)


def by_name(verdicts: list[Verdict]) -> dict[str, Verdict]:
    return {v.name: v for v in verdicts}


def test_a_better_calibrated_model_passes_every_criterion() -> None:
    base = baseline()
    trained = (base[0] - 0.3, base[1])  # same answers, confidence lowered to match accuracy
    verdicts = by_name(evaluate_criteria(base, trained, resamples=300))
    assert list(verdicts) == ["sample_size", "calibration", "accuracy", "discrimination", "not_collapsed"]
    assert all(v.passed for v in verdicts.values()), [v.detail for v in verdicts.values()]
    calibration = verdicts["calibration"]
    assert calibration.value > 0.5 and calibration.threshold == 0.10
    assert calibration.outcome == "pass" and calibration.reading == "interval"
    assert calibration.detail.startswith("debiased_calib_err 0.")
    assert "paired 95% CI of the change [-0." in calibration.detail
    assert calibration.intervals["change"][1] < 0 and calibration.intervals["trained - 0.9 x baseline"][1] < 0
    assert verdicts["accuracy"].value == 0.0
    collapse = verdicts["not_collapsed"].value
    assert collapse["auroc"] == pytest.approx(collapse["auroc_baseline"])  # same answers, same ranking


def test_too_small_a_reduction_or_too_large_an_accuracy_drop_fails() -> None:
    base = baseline()
    rng = np.random.default_rng(1)
    wrong_now = base[1] & (rng.random(len(base[1])) < 0.2)  # lose ~10 points of accuracy
    trained = (base[0] - 0.01, base[1] & ~wrong_now)
    verdicts = by_name(evaluate_criteria(base, trained, resamples=300))
    assert verdicts["calibration"].outcome == "fail"
    assert "the reduction is shown not to be met" in verdicts["calibration"].detail
    assert verdicts["accuracy"].outcome == "fail" and verdicts["accuracy"].value > 0.05
    assert verdicts["accuracy"].intervals["change"][1] < -0.05


def test_without_an_interval_the_estimated_criteria_are_inconclusive_unless_read_on_the_point() -> None:
    base = baseline()
    trained = (base[0] - 0.3, base[1])
    verdicts = by_name(evaluate_criteria(base, trained, resamples=0))
    for name in ("calibration", "accuracy", "discrimination"):
        assert verdicts[name].outcome == "inconclusive" and not verdicts[name].passed, name
        assert "no paired CI" in verdicts[name].detail
    assert verdicts["sample_size"].outcome == "pass" and verdicts["sample_size"].reading is None
    point = by_name(evaluate_criteria(base, trained, {"point": True}, resamples=0))
    for name in ("calibration", "accuracy", "discrimination"):
        assert point[name].outcome == "pass" and point[name].reading == "point"
        assert "POINT READING (--point)" in point[name].detail


def test_a_point_that_meets_the_reduction_with_a_straddling_interval_is_inconclusive() -> None:
    """Issue 22, hole 1: the point estimate passed while the CI of the change reached above 0."""
    rng = np.random.default_rng(7)
    confidence = rng.uniform(0.0, 1.0, 300)
    correct = rng.random(300) < np.clip(confidence + 0.12, 0, 1)  # underconfident by ~0.1
    trained = (np.clip(confidence + rng.normal(0.02, 0.08, 300), 0, 1), correct)
    verdict = by_name(evaluate_criteria((confidence, correct), trained, {"min_reduction": 0.05},
                                        resamples=400))["calibration"]
    change, margin = verdict.intervals["change"], verdict.intervals["trained - 0.95 x baseline"]
    assert verdict.value >= 0.05 and change[0] < 0 < change[1] and margin[0] <= 0, verdict.detail
    assert verdict.outcome == "inconclusive" and not verdict.passed
    assert verdict.detail.endswith("the reduction is not excluded: inconclusive")
    point = by_name(evaluate_criteria((confidence, correct), trained, {"min_reduction": 0.05, "point": True},
                                      resamples=400))["calibration"]
    assert point.outcome == "pass" and "POINT READING" in point.detail


def test_an_accuracy_change_whose_interval_straddles_the_allowed_drop_is_inconclusive() -> None:
    confidence = np.full(200, 0.5)
    before = np.arange(200) % 10 < 6  # 60%
    after = before & (np.arange(200) % 20 != 0)  # 50%: ten answers lost
    verdict = by_name(evaluate_criteria((confidence, before), (confidence, after), resamples=500))["accuracy"]
    low, high = verdict.intervals["change"]
    assert low < -0.05 < high and verdict.outcome == "inconclusive"


def test_a_drop_of_exactly_the_allowed_points_passes() -> None:
    confidence = np.full(100, 0.5)
    before = np.arange(100) < 65
    after = np.arange(100) < 60
    accuracy = by_name(evaluate_criteria((confidence, before), (confidence, after), {"point": True},
                                         resamples=0))["accuracy"]
    assert accuracy.value == pytest.approx(0.05) and accuracy.passed


def test_a_model_saying_point_nine_to_nearly_everything_is_collapsed_despite_its_std() -> None:
    base = baseline()
    n = len(base[0])
    trained_conf = np.full(n, 0.9)
    trained_conf[:40] = 0.05  # a few outliers lift the std over 0.05
    trained = (trained_conf, base[1])
    verdict = by_name(evaluate_criteria(base, trained, resamples=0))["not_collapsed"]
    assert verdict.value["confidence_std"] > DEFAULTS["min_confidence_std"]
    assert verdict.value["max_bin_share"] == pytest.approx(0.96)
    assert not verdict.passed
    assert "96.0% of confidences in [0.9, 1.0]" in verdict.detail
    assert "AUROC" in verdict.detail
    assert verdict.threshold == {"min_confidence_std": 0.05, "max_bin_share": 0.9}


def test_thresholds_come_from_the_criteria_table_merged_over_layers(tmp_path: Path) -> None:
    assert thresholds_from(Config.load()) == DEFAULTS  # the shipped registry.toml equals the defaults
    user = tmp_path / "strict.toml"
    user.write_text("[criteria]\nmin_reduction = 0.9\nmetric = \"ece\"\n")
    config = Config.load(user)
    assert thresholds_from(config)["min_reduction"] == 0.9
    base = baseline()
    verdicts = evaluate_criteria(base, (base[0] - 0.3, base[1]), config=config, resamples=100)
    verdict = by_name(verdicts)["calibration"]
    assert verdict.detail.startswith("ece ") and verdict.threshold == 0.9
    # An explicit mapping wins over the config.
    assert thresholds_from(config, {"min_reduction": 0.2})["min_reduction"] == 0.2
    with pytest.raises(ParameterError, match="unknown key 'min_reductoin'"):
        thresholds_from(config, {"min_reductoin": 0.2})


def test_a_calibration_error_that_cannot_be_computed_fails_with_the_reason() -> None:
    base = baseline(50)
    verdicts = by_name(evaluate_criteria(base, base, {"metric": "hle_calib_err"}, resamples=100))
    assert verdicts["calibration"].outcome == "fail"
    assert "needs at least beta=100 examples" in verdicts["calibration"].detail
    assert verdicts["accuracy"].passed and "CI of the change" in verdicts["accuracy"].detail


def test_runs_must_cover_the_same_examples_and_verdicts_serialise() -> None:
    with pytest.raises(InputError, match="same examples"):
        evaluate_criteria(baseline(10), baseline(11), resamples=0)
    verdict = by_name(evaluate_criteria(baseline(), baseline(), resamples=50))["accuracy"]
    assert verdict.to_dict() == {
        "name": "accuracy", "outcome": "pass", "passed": True, "value": 0.0, "threshold": 0.05,
        "detail": verdict.detail, "reading": "interval", "intervals": {"change": [0.0, 0.0]},
    }
    with pytest.raises(ValueError, match="outcome"):
        Verdict(name="accuracy", outcome="maybe", value=0.0, threshold=0.05, detail="")


def test_tenth_shares() -> None:
    shares = tenth_shares(np.array([0.0, 0.05, 0.1, 0.95, 1.0]))
    assert shares.tolist() == [0.4, 0.2, 0, 0, 0, 0, 0, 0, 0, 0.4]


def answered(before: float, after: float, n: int = 400) -> Answered:
    """``n`` examples of one group each, the first ``before`` / ``after`` share answered."""
    ids = [f"q{i:04d}" for i in range(n)]
    flags = np.arange(n)
    return Answered(ids=ids, before=flags < round(before * n), after=flags < round(after * n), groups=ids)


def test_held_out_and_coverage_join_when_given() -> None:
    base = baseline()
    trained = (base[0] - 0.3, base[1])
    verdicts = by_name(evaluate_criteria(base, trained, {"point": True}, resamples=0, held_out=False,
                                         coverage=answered(0.98, 0.95)))
    assert list(verdicts)[0] == "held_out" and not verdicts["held_out"].passed
    assert not verdicts["coverage"].passed and verdicts["coverage"].value == pytest.approx(-0.03)
    loose = {"allow_not_held_out": True, "coverage_tolerance": 0.05, "point": True}
    allowed = by_name(evaluate_criteria(base, trained, loose, resamples=0, held_out=False,
                                        coverage=answered(0.98, 0.95)))
    assert allowed["held_out"].passed and allowed["coverage"].passed


def test_coverage_is_read_from_its_paired_interval() -> None:
    """A 3-point fall in the share answered at n = 400 fails (the CI lies below -1 point); a fall
    of 1 point straddles it (inconclusive); the same share on both sides passes; without
    resamples the interval reading has nothing to read (inconclusive)."""
    base = baseline()
    trained = (base[0] - 0.3, base[1])

    def coverage(before: float, after: float, resamples: int = 500) -> Verdict:
        return by_name(evaluate_criteria(base, trained, resamples=resamples,
                                         coverage=answered(before, after)))["coverage"]

    fell = coverage(0.98, 0.95)
    assert fell.outcome == "fail" and fell.intervals["change"][1] < -0.01
    assert coverage(0.98, 0.97).outcome == "inconclusive"
    same = coverage(0.95, 0.95)
    assert same.outcome == "pass" and same.intervals["change"] == [0.0, 0.0]
    assert coverage(0.98, 0.98, resamples=0).outcome == "inconclusive"


def test_discrimination_fails_when_confidence_stops_ranking() -> None:
    base = baseline()
    rng = np.random.default_rng(2)
    noise = (rng.choice([0.3, 0.45, 0.6], len(base[0])), base[1])
    verdicts = by_name(evaluate_criteria(base, noise, resamples=200))
    assert verdicts["calibration"].passed and verdicts["discrimination"].outcome == "fail"
    assert "its upper bound is below the allowed change" in verdicts["discrimination"].detail


def test_too_few_examples_fail_the_sample_size() -> None:
    base = baseline(20)
    verdict = by_name(evaluate_criteria(base, (base[0] - 0.3, base[1]), resamples=0))["sample_size"]
    assert not verdict.passed
    assert verdict.detail == "20 paired examples (needs >= 100) in 20 groups (needs >= 30)"


def test_enough_examples_in_too_few_groups_fail_the_sample_size() -> None:
    """Issue 22, hole 4: the bootstrap resamples groups, so 150 examples of 10 entities are 10 draws."""
    base = baseline(150)
    groups = [f"entity{i % 10}" for i in range(150)]
    verdict = by_name(evaluate_criteria(base, base, resamples=0, groups=groups))["sample_size"]
    assert verdict.outcome == "fail" and verdict.value == {"examples": 150, "groups": 10}
    assert "in 10 groups (needs >= 30)" in verdict.detail
    assert by_name(evaluate_criteria(base, base, {"min_groups": 10}, resamples=0, groups=groups))[
        "sample_size"].passed


@pytest.mark.parametrize(("key", "value"), [("min_n", 0), ("max_bin_share", 1.5), ("strict", "yes"),
                                            ("min_groups", 2.5), ("require", ["everything"]),
                                            ("min_reduction", float("nan"))])
def test_bad_thresholds_are_parameter_errors(key, value) -> None:
    with pytest.raises(ParameterError, match=key):
        thresholds_from(Config.load(), {key: value})


def test_strict_is_the_interval_reading_and_contradicts_point() -> None:
    assert thresholds_from(Config.load(), {"strict": True})["point"] is False
    with pytest.raises(ParameterError, match="strict and point contradict"):
        thresholds_from(Config.load(), {"strict": True, "point": True})


def test_a_baseline_error_of_zero_defines_no_reduction_but_a_clearly_worse_model_still_fails() -> None:
    """The debiased error is 0 where the baseline is calibrated within its noise (a run of 152
    answers: verbalized's baseline). No point reduction exists; the interval can still show the
    trained model worse than 0.9 x the baseline."""
    rng = np.random.default_rng(4)
    confidence = rng.uniform(0.2, 0.9, 300)
    correct = rng.random(300) < confidence  # calibrated
    base = (confidence, correct)
    assert debiased_calib_err(*base) == 0.0
    worse = by_name(evaluate_criteria(base, (np.full(300, 0.97), correct), resamples=300))["calibration"]
    assert worse.outcome == "fail" and worse.value is None
    assert "no relative reduction is defined" in worse.detail
    same = by_name(evaluate_criteria(base, base, resamples=300))["calibration"]
    assert same.outcome == "inconclusive" and same.detail.endswith(
        "no relative reduction is defined, and the reduction is not excluded: inconclusive")
    point = by_name(evaluate_criteria(base, base, {"point": True}, resamples=0))["calibration"]
    assert point.outcome == "fail"
