"""The built-in calibrators, each against an independent reference: scikit-learn's isotonic
and logistic regressions, a histogram computed by hand, a brute-force grid of the temperature's
likelihood; and their edge cases (ties, confidences of exactly 0 and 1, one class, n = 2..5)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from calibrator_helpers import labelled_confidences
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import InsufficientDataError, ParameterError
from harness.plugins.calibrators import (
    BUILTIN_CALIBRATORS,
    HistogramCalibrator,
    IsotonicCalibrator,
    PlattCalibrator,
    TemperatureCalibrator,
)
from harness.plugins.calibrators.logit import logit, nll

GRID = np.concatenate([np.linspace(0, 1, 1001), [1e-300, 1e-7, 1 - 1e-7, 1 - 1e-16]])


def overconfident(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    confidence = rng.beta(5, 2, n)
    return confidence, rng.random(n) < confidence * 0.7


def build(name: str):
    """A built-in calibrator; the histogram in its monotone form (the plain one is not monotone)."""
    return HistogramCalibrator(monotone=True) if name == "histogram" else BUILTIN_CALIBRATORS[name]()


# --- isotonic: scikit-learn's IsotonicRegression ---------------------------------------------------


def sklearn_isotonic(confidence: np.ndarray, correct: np.ndarray):
    from sklearn.isotonic import IsotonicRegression

    return IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(confidence, correct.astype(float))


@pytest.mark.parametrize("seed", range(20))
def test_isotonic_equals_scikit_learn_on_random_data_with_ties(seed: int):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 400))
    confidence = rng.integers(0, 40, n) / 39  # many ties, 0 and 1 included
    correct = rng.random(n) < confidence
    correct[:2] = [True, False]
    calibrator = IsotonicCalibrator()
    calibrator.fit(confidence, correct)
    points = np.concatenate([GRID, confidence])
    np.testing.assert_allclose(calibrator(points), sklearn_isotonic(confidence, correct).predict(points),
                               rtol=0, atol=1e-12)


@settings(max_examples=150, deadline=None)
@given(
    data=st.lists(st.tuples(st.floats(0, 1), st.booleans()), min_size=2, max_size=60).filter(
        lambda d: len({k for _, k in d}) == 2
    )
)
def test_isotonic_equals_scikit_learn_on_any_floats(data):
    confidence = np.array([c for c, _ in data])
    correct = np.array([k for _, k in data])
    calibrator = IsotonicCalibrator()
    calibrator.fit(confidence, correct)
    points = np.concatenate([GRID, confidence])
    np.testing.assert_allclose(calibrator(points), sklearn_isotonic(confidence, correct).predict(points),
                               rtol=0, atol=1e-12)
    assert calibrator.fitted()["breakpoints"] == len(calibrator.fitted()["x"]) >= 1


def test_isotonic_pools_a_falling_accuracy_and_reports_its_breakpoints():
    calibrator = IsotonicCalibrator()
    calibrator.fit(np.array([0.1, 0.2, 0.3, 0.3, 0.9]), np.array([False, True, False, False, True]))
    # 0.2 (right) then 0.3 (two wrong) violate: pooled to 1/3 at both
    assert calibrator(np.array([0.1, 0.2, 0.3, 0.9])) == pytest.approx([0.0, 1 / 3, 1 / 3, 1.0])
    assert calibrator(np.array([0.0, 0.6, 1.0])) == pytest.approx([0.0, 2 / 3, 1.0])  # clipped, interpolated
    assert calibrator.fitted() == {"breakpoints": 4, "x": [0.1, 0.2, 0.3, 0.9], "y": pytest.approx(
        [0.0, 1 / 3, 1 / 3, 1.0])}


# --- platt: scikit-learn's unregularised logistic regression on the logit -------------------------


@pytest.mark.parametrize("seed", range(6))
def test_platt_equals_scikit_learn_logistic_regression_on_the_logit(seed: int):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    confidence = rng.beta(2, 2, 600)
    confidence[:5] = [0.0, 1.0, 1.0, 0.5, 0.5]  # ends and ties
    z = logit(confidence)
    correct = rng.random(600) < 1 / (1 + np.exp(-(rng.uniform(0.3, 2.5) * z + rng.uniform(-1, 1))))
    calibrator = PlattCalibrator()
    calibrator.fit(confidence, correct)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = LogisticRegression(C=1e10, tol=1e-12, max_iter=100_000).fit(z[:, None], correct)
    fitted = calibrator.fitted()
    assert fitted["slope"] == pytest.approx(reference.coef_[0, 0], rel=1e-6, abs=1e-8)
    assert fitted["intercept"] == pytest.approx(reference.intercept_[0], rel=1e-6, abs=1e-8)
    expected = reference.predict_proba(logit(GRID)[:, None])[:, 1]
    np.testing.assert_allclose(calibrator(GRID), expected, atol=1e-7)


def test_platt_never_reverses_the_ranking_it_is_the_accuracy_where_the_fit_would():
    confidence = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    correct = np.array([True, True, False, True, False, False])  # wrong answers ranked higher
    calibrator = PlattCalibrator()
    calibrator.fit(confidence, correct)
    assert calibrator.fitted()["slope"] == 0.0
    assert calibrator(GRID) == pytest.approx(np.full(len(GRID), 0.5))


def test_platt_on_separable_answers_stops_steep_and_in_range():
    calibrator = PlattCalibrator()
    calibrator.fit(np.array([0.1, 0.2, 0.8, 0.9]), np.array([False, False, True, True]))
    out = calibrator(GRID)
    assert np.all(np.isfinite(out)) and out.min() >= 0 and out.max() <= 1
    assert calibrator(np.array([0.2]))[0] < 0.01 and calibrator(np.array([0.8]))[0] > 0.99


# --- temperature: a brute-force grid of its likelihood ---------------------------------------------


def grid_search_temperature(confidence: np.ndarray, correct: np.ndarray) -> tuple[float, float]:
    """The log temperature of least NLL on a fine grid over [-5, 5], and that NLL."""
    log_t = np.linspace(-5, 5, 20_001)
    scores = logit(confidence)[None, :] / np.exp(log_t)[:, None]
    losses = np.sum(np.logaddexp(0.0, scores) - correct[None, :] * scores, axis=1)
    best = int(np.argmin(losses))
    return float(log_t[best]), float(losses[best])


@pytest.mark.parametrize("seed", range(8))
def test_temperature_minimises_the_nll_as_well_as_a_brute_force_grid(seed: int):
    rng = np.random.default_rng(seed)
    confidence, correct = overconfident(300, seed)
    confidence[rng.random(300) < 0.05] = 1.0
    calibrator = TemperatureCalibrator()
    calibrator.fit(confidence, correct)
    temperature = calibrator.fitted()["temperature"]
    log_t, grid_loss = grid_search_temperature(confidence, correct.astype(float))
    assert nll(logit(confidence) / temperature, correct) <= grid_loss + 1e-9
    assert np.log(temperature) == pytest.approx(log_t, abs=1e-3)
    assert temperature > 1  # overconfident answers are softened


def test_temperature_sharpens_underconfident_answers_and_stops_at_its_bounds():
    rng = np.random.default_rng(3)
    truth = rng.uniform(0.02, 0.98, 2000)
    correct = rng.random(2000) < truth
    under = 1 / (1 + np.exp(-logit(truth) / 3))  # the true logit shrunk three times
    calibrator = TemperatureCalibrator()
    calibrator.fit(under, correct)
    assert calibrator.fitted()["temperature"] == pytest.approx(1 / 3, rel=0.15)
    reversed_ = TemperatureCalibrator()
    reversed_.fit(1 - truth, correct)  # ranks wrong answers higher: as flat as allowed
    assert reversed_.fitted()["temperature"] == pytest.approx(np.exp(5))
    flat = TemperatureCalibrator()
    flat.fit(np.full(4, 0.5), np.array([True, False, True, False]))
    assert flat.fitted()["temperature"] == 1.0  # every temperature fits 0.5 alike: the identity
    assert flat(GRID) == pytest.approx(np.clip(GRID, 1e-6, 1 - 1e-6), rel=1e-9)


# --- histogram: by hand ------------------------------------------------------------------------------


def test_histogram_is_the_accuracy_of_each_equal_mass_bin():
    confidence = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    correct = np.array([False, True, False, False, True, True, False, True])
    calibrator = HistogramCalibrator(bins=4)
    calibrator.fit(confidence, correct)
    # the 1/4, 2/4, 3/4 quantiles (linear) of the eight: 0.275, 0.45, 0.625;
    # bins [.., 0.275) [0.275, 0.45) [0.45, 0.625) [0.625, ..) hold 2 each: 1/2, 0, 1, 1/2
    fitted = calibrator.fitted()
    assert fitted["edges"] == pytest.approx([0.275, 0.45, 0.625])
    assert fitted["counts"] == [2, 2, 2, 2]
    assert fitted["accuracy"] == fitted["values"] == [0.5, 0.0, 1.0, 0.5]
    points = np.array([0.0, 0.275, 0.449, 0.45, 0.7, 1.0])
    assert calibrator(points).tolist() == [0.5, 0.0, 0.0, 1.0, 0.5, 0.5]
    monotone = HistogramCalibrator(bins=4, monotone=True)
    monotone.fit(confidence, correct)
    # PAV weighted by the counts: (1/2, 0) -> 1/4, 1/4; then (1, 1/2) -> 3/4, 3/4
    assert monotone.fitted()["values"] == [0.25, 0.25, 0.75, 0.75]
    assert monotone.fitted()["accuracy"] == [0.5, 0.0, 1.0, 0.5]


def test_a_histogram_bin_that_no_training_answer_falls_in_gets_the_overall_accuracy():
    confidence = np.array([0.2, 0.2, 0.2, 0.2, 0.9, 0.95])  # the 1/3 quantile is the minimum, 0.2
    correct = np.array([False, False, True, False, True, True])
    calibrator = HistogramCalibrator(bins=3)
    calibrator.fit(confidence, correct)
    fitted = calibrator.fitted()
    assert fitted["edges"] == pytest.approx([0.2, 0.2 + (0.9 - 0.2) * (2 / 3 * 5 - 3)])
    assert fitted["counts"] == [0, 4, 2]
    assert fitted["values"] == pytest.approx([0.5, 0.25, 1.0])  # below 0.2: empty, the overall 3/6
    assert calibrator(np.array([0.0]))[0] == pytest.approx(0.5)


@pytest.mark.parametrize("params", [{"bins": 0}, {"bins": 2.5}, {"bins": True}, {"monotone": "yes"}])
def test_bad_histogram_parameters_are_refused(params):
    with pytest.raises(ParameterError, match="calibrator 'histogram'"):
        HistogramCalibrator(**params)


# --- every calibrator -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BUILTIN_CALIBRATORS))
@pytest.mark.parametrize(
    ("confidence", "correct", "why"),
    [
        ([0.3, 0.9, 0.6], [True, True, True], "all 3 are correct"),
        ([0.3, 0.9], [False, False], "all 2 are wrong"),
        ([0.7], [True], "at least 2 training answers, got 1"),
        ([], [], "got 0"),
    ],
)
def test_one_class_or_fewer_than_two_answers_is_insufficient_data(name, confidence, correct, why):
    with pytest.raises(InsufficientDataError, match=why) as info:
        build(name).fit(np.array(confidence, dtype=float), np.array(correct, dtype=bool))
    assert f"calibrator {name!r}" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("name", sorted(BUILTIN_CALIBRATORS))
@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_a_handful_of_answers_with_exact_0_1_and_ties_fits(name: str, n: int):
    confidence = np.array([0.0, 1.0, 1.0, 0.0, 0.5][:n])
    correct = np.array([False, True, False, True, True][:n])
    calibrator = build(name)
    calibrator.fit(confidence, correct)
    out = calibrator(GRID)
    assert out.shape == GRID.shape and np.all(np.isfinite(out))
    assert out.min() >= 0 and out.max() <= 1 and np.all(np.diff(out[:1001]) >= 0)


@pytest.mark.parametrize("name", sorted(BUILTIN_CALIBRATORS))
def test_calibrators_make_overconfident_answers_better_calibrated(name: str):
    confidence, correct = overconfident(4000, 1)
    calibrator = build(name)
    calibrator.fit(confidence[:2000], correct[:2000])
    held_out, truth = confidence[2000:], correct[2000:]
    calibrated = calibrator(held_out)

    def brier(c: np.ndarray) -> float:
        return float(np.mean((c - truth) ** 2))

    assert brier(calibrated) < brier(held_out) - 0.01
    gap = abs(np.mean(calibrated) - np.mean(truth))
    # one temperature has no intercept: it narrows the gap of the mean, the others close it
    assert gap < (0.5 * abs(np.mean(held_out) - np.mean(truth)) if name == "temperature" else 0.03)


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(BUILTIN_CALIBRATORS)),
    data=labelled_confidences(max_size=80),
    bins=st.integers(1, 15),
)
def test_every_calibrator_maps_into_0_1_without_reversing_the_order(name, data, bins):
    calibrator = HistogramCalibrator(bins=bins, monotone=True) if name == "histogram" else build(name)
    calibrator.fit(np.array([c for c, _ in data]), np.array([k for _, k in data]))
    points = np.sort(np.concatenate([GRID, [c for c, _ in data]]))
    out = calibrator(points)
    assert out.shape == points.shape and np.all(np.isfinite(out))
    assert out.min() >= 0 and out.max() <= 1
    assert np.all(np.diff(out) >= 0)
    assert calibrator(points.reshape(-1, 1)).shape == (len(points), 1)  # any shape in, that shape out


@settings(max_examples=40, deadline=None)
@given(
    data=st.lists(st.tuples(st.floats(0, 1), st.booleans()), min_size=2, max_size=80).filter(
        lambda d: len({k for _, k in d}) == 2
    ),
    bins=st.integers(1, 15),
)
def test_the_plain_histogram_maps_into_0_1(data, bins):
    calibrator = HistogramCalibrator(bins=bins)
    calibrator.fit(np.array([c for c, _ in data]), np.array([k for _, k in data]))
    out = calibrator(GRID)
    assert np.all(np.isfinite(out)) and out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("name", sorted(BUILTIN_CALIBRATORS))
def test_calling_before_fit_is_a_bug_that_says_so(name: str):
    with pytest.raises(RuntimeError, match="before fit"):
        build(name)(np.array([0.5]))
