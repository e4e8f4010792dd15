"""The bootstrap: seeded resamples, batched and plain metrics alike, paired differences, scoring."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import InputError, InsufficientDataError, ParameterError
from harness.machinery.config import Config
from harness.plugins.metrics import BUILTIN_METRICS, accuracy, brier, hle_percent, rms_calib_err
from harness.statistics.bootstrap import (
    Resamples,
    bootstrap_ci,
    draw,
    paired_bootstrap_ci,
    percentile_interval,
    replicate_all,
    replicates,
)
from harness.statistics.scoring import paired_difference, score


def run(n: int = 600, seed: int = 0, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    confidence = np.clip(rng.beta(5, 2, n) - shift, 0, 1)
    return confidence, rng.random(n) < confidence * 0.7


def test_resamples_are_seeded_and_drawn_with_replacement() -> None:
    a, b, c = draw(50, 200, seed=1), draw(50, 200, seed=1), draw(50, 200, seed=2)
    assert a.indices.shape == (200, 50) and (a.size, a.n) == (200, 50)
    assert np.array_equal(a.indices, b.indices)
    assert not np.array_equal(a.indices, c.indices)
    assert a.indices.min() >= 0 and a.indices.max() < 50
    assert any(len(set(row)) < 50 for row in a.indices.tolist())  # with replacement
    with pytest.raises(ParameterError):
        draw(50, 0)


def test_a_third_party_metric_without_a_batched_form_is_looped_over_and_agrees() -> None:
    def plain_accuracy(confidence: np.ndarray, correct: np.ndarray) -> float:
        return float(np.mean(correct))

    confidence, correct = run()
    resamples = draw(len(confidence), 300, seed=4)
    assert np.allclose(replicates(plain_accuracy, confidence, correct, resamples),
                       replicates(accuracy, confidence, correct, resamples), atol=1e-12)


def test_a_resample_where_a_plain_metric_is_undefined_is_left_out() -> None:
    def needs_both_classes(confidence: np.ndarray, correct: np.ndarray) -> float:
        if correct.all() or not correct.any():
            raise InsufficientDataError("one class only")
        return float(np.mean(correct))

    confidence, correct = np.array([0.9, 0.2]), np.array([True, False])
    values = replicates(needs_both_classes, confidence, correct, draw(2, 200, seed=0))
    assert np.isnan(values).any() and np.nanmax(values) == 0.5
    assert percentile_interval(values) == [0.5, 0.5]


def test_percentile_interval() -> None:
    assert percentile_interval(np.arange(101.0)) == pytest.approx([2.5, 97.5])
    assert percentile_interval(np.arange(101.0), level=0.5) == pytest.approx([25.0, 75.0])
    assert percentile_interval(np.array([np.nan, 1.0, np.nan])) == [1.0, 1.0]
    assert percentile_interval(np.full(3, np.nan)) is None
    with pytest.raises(ParameterError):
        percentile_interval(np.arange(3.0), level=1.0)


def test_chunks_of_resamples_give_the_same_replicates_as_one_block() -> None:
    confidence, correct = run(300)
    resamples = draw(300, 100, seed=3)
    whole = replicate_all(BUILTIN_METRICS, [(confidence, correct)], resamples, max_elements=10**9)
    chunked = replicate_all(BUILTIN_METRICS, [(confidence, correct)], resamples, max_elements=300 * 7)
    assert len(resamples.chunks(300 * 7)) == 15
    for name in BUILTIN_METRICS:
        assert np.allclose(whole[name], chunked[name], atol=1e-12, equal_nan=True), name


def test_the_paired_interval_resamples_both_runs_by_the_same_examples() -> None:
    base = run(800, seed=1)
    better = (np.clip(base[0] - 0.1, 0, 1), base[1])  # same answers, still overconfident but less
    assert paired_bootstrap_ci(brier, *base, *base, resamples=200) == [0.0, 0.0]
    paired = paired_bootstrap_ci(rms_calib_err, *base, *better, resamples=500)
    assert paired[1] < 0  # the error fell, clearly
    # Unpaired (independent resamples of each run), the shared noise of the two runs is not
    # cancelled and the interval of the difference is wider.
    a = replicates(rms_calib_err, *base, draw(800, 500, seed=1))
    b = replicates(rms_calib_err, *better, draw(800, 500, seed=2))
    unpaired = percentile_interval(b - a)
    assert paired[1] - paired[0] < unpaired[1] - unpaired[0]
    with pytest.raises(InputError, match="same examples"):
        paired_bootstrap_ci(brier, *base, *run(10))


def test_binned_calibration_errors_are_biased_upwards_so_their_interval_can_miss_a_small_estimate() -> None:
    # Perfectly calibrated answers: the binned estimate is noise (~0.03); a resample adds more
    # noise, so the percentile interval lies above it. Documented in docs/metrics.md.
    rng = np.random.default_rng(0)
    confidence = rng.random(4326)
    correct = rng.random(4326) < confidence
    value = rms_calib_err(confidence, correct)
    low, high = bootstrap_ci(rms_calib_err, confidence, correct, resamples=500)
    assert value < low < high < 0.1


def test_score_gives_every_metric_a_value_and_an_interval() -> None:
    confidence, correct = run(600)
    result = score(confidence, correct, resamples=300, seed=5)
    assert result["n"] == 600
    assert result["bootstrap"] == {
        "resamples": 300, "seed": 5, "level": 0.95, "unit": "example", "groups": None
    }
    assert set(result["metrics"]) == set(BUILTIN_METRICS)
    for name, entry in result["metrics"].items():
        assert entry["error"] is None, name
        assert entry["value"] == BUILTIN_METRICS[name](confidence, correct)
        low, high = entry["ci"]
        assert low <= high, name
    hle = result["metrics"]["hle_calib_err"]
    assert hle["hle_percent"] == hle_percent(hle["value"])
    assert score(confidence, correct, resamples=300, seed=5) == result  # seeded
    assert score(confidence, correct)["metrics"]["brier"]["ci"] is None  # no resamples, no interval


def test_score_reports_a_metric_it_cannot_compute_unless_it_was_asked_for_by_name() -> None:
    confidence, correct = run(60)
    entry = score(confidence, correct, resamples=50)["metrics"]["hle_calib_err"]
    assert entry["value"] is None and entry["ci"] is None
    assert "at least beta=100 examples, got 60" in entry["error"]
    with pytest.raises(InsufficientDataError):
        score(confidence, correct, ["hle_calib_err"])
    small_beta = Config.load(overrides=["metric.hle_calib_err.beta=20"])
    assert score(confidence, correct, ["hle_calib_err"], small_beta)["metrics"]["hle_calib_err"]["value"] > 0


def test_paired_difference_of_two_runs_on_the_same_examples() -> None:
    base = run(500, seed=2)
    trained = (np.clip(base[0] - 0.2, 0, 1), base[1])
    out = paired_difference(*base, *trained, ["rms_calib_err", "accuracy", "auroc"], resamples=300)
    rms = out["rms_calib_err"]
    assert rms["diff"] == pytest.approx(rms["b"] - rms["a"]) and rms["diff"] < 0
    assert rms["ci"][0] <= rms["diff"] <= rms["ci"][1]
    assert out["accuracy"]["diff"] == 0.0 and out["accuracy"]["ci"] == [0.0, 0.0]
    small = paired_difference(*run(50), *run(50, seed=1), resamples=20)
    assert small["hle_calib_err"]["diff"] is None and "beta" in small["hle_calib_err"]["error"]
    with pytest.raises(InputError, match="same examples"):
        paired_difference(*base, *run(499))


def test_resamples_memo_is_per_data_set() -> None:
    resamples = Resamples(np.zeros((2, 3), dtype=np.int32))
    a, b = np.zeros(3), np.ones(3)
    calls: list[str] = []
    assert resamples.memo("k", lambda: calls.append("a") or "A", a) == "A"
    assert resamples.memo("k", lambda: calls.append("a") or "A2", a) == "A"
    assert resamples.memo("k", lambda: calls.append("b") or "B", b) == "B"
    assert calls == ["a", "b"]
