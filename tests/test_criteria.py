"""Success criteria: one verdict per criterion, with the numbers behind it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.config import Config
from harness.criteria import DEFAULTS, Verdict, evaluate_criteria, tenth_shares, thresholds_from
from harness.errors import InputError, ParameterError


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
    assert calibration.detail.startswith("rms_calib_err 0.")
    assert "paired 95% CI of the change [-0." in calibration.detail
    assert verdicts["accuracy"].value == 0.0
    collapse = verdicts["not_collapsed"].value
    assert collapse["auroc"] == pytest.approx(collapse["auroc_baseline"])  # same answers, same ranking


def test_too_small_a_reduction_or_too_large_an_accuracy_drop_fails() -> None:
    base = baseline()
    rng = np.random.default_rng(1)
    wrong_now = base[1] & (rng.random(len(base[1])) < 0.2)  # lose ~10 points of accuracy
    trained = (base[0] - 0.01, base[1] & ~wrong_now)
    verdicts = by_name(evaluate_criteria(base, trained, resamples=0))
    assert not verdicts["calibration"].passed
    assert not verdicts["accuracy"].passed and verdicts["accuracy"].value > 0.05
    assert "CI" not in verdicts["accuracy"].detail  # no resamples, no interval


def test_a_drop_of_exactly_the_allowed_points_passes() -> None:
    confidence = np.full(100, 0.5)
    before = np.arange(100) < 65
    after = np.arange(100) < 60
    accuracy = by_name(evaluate_criteria((confidence, before), (confidence, after), resamples=0))["accuracy"]
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
    verdicts = evaluate_criteria(base, (base[0] - 0.3, base[1]), config=config, resamples=0)
    verdict = by_name(verdicts)["calibration"]
    assert verdict.detail.startswith("ece ") and verdict.threshold == 0.9
    # An explicit mapping wins over the config.
    assert thresholds_from(config, {"min_reduction": 0.2})["min_reduction"] == 0.2
    with pytest.raises(ParameterError, match="unknown key 'min_reductoin'"):
        thresholds_from(config, {"min_reductoin": 0.2})


def test_a_calibration_error_that_cannot_be_computed_fails_with_the_reason() -> None:
    base = baseline(50)
    verdicts = by_name(evaluate_criteria(base, base, {"metric": "hle_calib_err"}, resamples=100))
    assert not verdicts["calibration"].passed
    assert "needs at least beta=100 examples" in verdicts["calibration"].detail
    assert verdicts["accuracy"].passed and "CI of the change" in verdicts["accuracy"].detail


def test_runs_must_cover_the_same_examples_and_verdicts_serialise() -> None:
    with pytest.raises(InputError, match="same examples"):
        evaluate_criteria(baseline(10), baseline(11), resamples=0)
    verdict = by_name(evaluate_criteria(baseline(), baseline(), resamples=0))["accuracy"]
    assert verdict.to_dict() == {
        "name": "accuracy", "passed": True, "value": 0.0, "threshold": 0.05, "detail": verdict.detail,
    }


def test_tenth_shares() -> None:
    shares = tenth_shares(np.array([0.0, 0.05, 0.1, 0.95, 1.0]))
    assert shares.tolist() == [0.4, 0.2, 0, 0, 0, 0, 0, 0, 0, 0.4]


def test_held_out_and_coverage_join_when_given() -> None:
    base = baseline()
    trained = (base[0] - 0.3, base[1])
    verdicts = by_name(evaluate_criteria(base, trained, resamples=0, held_out=False, coverage=(0.98, 0.95)))
    assert list(verdicts)[0] == "held_out" and not verdicts["held_out"].passed
    assert not verdicts["coverage"].passed and verdicts["coverage"].value == pytest.approx(-0.03)
    loose = {"allow_not_held_out": True, "coverage_tolerance": 0.05}
    allowed = by_name(evaluate_criteria(base, trained, loose, resamples=0, held_out=False,
                                        coverage=(0.98, 0.95)))
    assert allowed["held_out"].passed and allowed["coverage"].passed


def test_discrimination_fails_when_confidence_stops_ranking() -> None:
    base = baseline()
    rng = np.random.default_rng(2)
    noise = (rng.choice([0.3, 0.45, 0.6], len(base[0])), base[1])
    verdicts = by_name(evaluate_criteria(base, noise, resamples=200))
    assert verdicts["calibration"].passed and not verdicts["discrimination"].passed
    assert "upper bound of the paired 95% CI" in verdicts["discrimination"].detail


def test_too_few_examples_fail_the_sample_size() -> None:
    base = baseline(20)
    verdict = by_name(evaluate_criteria(base, (base[0] - 0.3, base[1]), resamples=0))["sample_size"]
    assert not verdict.passed and verdict.detail == "20 paired examples (needs >= 100)"


@pytest.mark.parametrize(("key", "value"), [("min_n", 0), ("max_bin_share", 1.5), ("strict", "yes"),
                                            ("require", ["everything"]), ("min_reduction", float("nan"))])
def test_bad_thresholds_are_parameter_errors(key, value) -> None:
    with pytest.raises(ParameterError, match=key):
        thresholds_from(Config.load(), {key: value})
