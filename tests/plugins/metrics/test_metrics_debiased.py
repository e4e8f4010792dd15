"""debiased_calib_err: equal-mass bins and the variance correction, on cases small enough to do by hand."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import ParameterError
from harness.plugins.metrics import debiased_calib_err, rms_calib_err
from harness.plugins.metrics.debiased import equal_mass_edges
from harness.statistics.bootstrap import draw, replicates


def by_hand(confidence: np.ndarray, correct: np.ndarray, bins: int) -> float:
    """The definition, bin by bin, on distinct confidences."""
    order = np.argsort(confidence)
    conf, hit = confidence[order], correct[order].astype(float)
    total = 0.0
    for lo, hi in zip(equal_mass_edges(len(conf), bins)[:-1], equal_mass_edges(len(conf), bins)[1:],
                      strict=True):
        size = hi - lo
        c, a = conf[lo:hi].mean(), hit[lo:hi].mean()
        total += size / len(conf) * ((c - a) ** 2 - (a * (1 - a) / (size - 1) if size > 1 else 0.0))
    return float(np.sqrt(max(total, 0.0)))


def test_equal_mass_bins_differ_in_size_by_at_most_one() -> None:
    assert equal_mass_edges(450, 10).tolist() == list(range(0, 451, 45))
    sizes = np.diff(equal_mass_edges(453, 10))
    assert sizes.sum() == 453 and sizes.max() - sizes.min() <= 1 and len(sizes) == 10
    assert equal_mass_edges(3, 10).tolist() == [0, 1, 2, 3]  # fewer answers than bins: one each


def test_the_value_is_the_definition_with_the_variance_of_each_bins_accuracy_removed() -> None:
    rng = np.random.default_rng(0)
    confidence = rng.permutation(np.linspace(0.05, 0.95, 97))
    correct = rng.random(97) < np.clip(confidence + 0.2, 0, 1)
    assert debiased_calib_err(confidence, correct, bins=10) == pytest.approx(by_hand(confidence, correct, 10))
    assert debiased_calib_err(confidence, correct, bins=7) == pytest.approx(by_hand(confidence, correct, 7))


def test_at_450_answers_it_resolves_what_fixed_bins_of_100_cannot() -> None:
    """Issue 22, hole 4: rms_calib_err has 4 bins at n = 450 and so misses a miscalibration that
    cancels within a bin; ten equal-mass bins see it. On calibrated answers the correction keeps
    the noise floor low."""
    rng = np.random.default_rng(1)
    n = 450
    confidence = np.sort(rng.uniform(0.0, 1.0, n))
    wiggle = confidence + 0.15 * np.sign(np.sin(confidence * 8 * np.pi))  # over, under, over, ...
    correct = rng.random(n) < np.clip(wiggle, 0, 1)
    assert debiased_calib_err(confidence, correct) > 1.5 * rms_calib_err(confidence, correct)
    calibrated = rng.random(n) < confidence
    floors = [debiased_calib_err(confidence, rng.random(n) < confidence) for _ in range(20)]
    assert np.mean(floors) < 0.05 and debiased_calib_err(confidence, calibrated) < 0.08


def test_its_batched_form_equals_the_definition_on_every_resample() -> None:
    rng = np.random.default_rng(2)
    confidence = rng.choice([0.2, 0.5, 0.5, 0.9], 120)  # ties across the bins' cuts
    correct = rng.random(120) < confidence
    resamples = draw(120, 50, seed=3)
    batched = replicates(debiased_calib_err, confidence, correct, resamples)
    one_by_one = [debiased_calib_err(confidence[row], correct[row]) for row in resamples.indices]
    assert batched == pytest.approx(one_by_one)


@pytest.mark.parametrize("bins", [0, 2.5, True])
def test_bad_bins_are_parameter_errors(bins: object) -> None:
    with pytest.raises(ParameterError, match="bins"):
        debiased_calib_err(np.array([0.5, 0.6]), np.array([1, 0]), bins=bins)  # type: ignore[arg-type]
