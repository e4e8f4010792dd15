"""Properties of every built-in metric on generated data (hypothesis).

Ranges; invariance to the order of the input (all but hle_calib_err, whose unstable sort of
tied confidences is part of what it reproduces); HLE's estimator is never above the corrected
one on distinct confidences (it drops a non-negative term); the batched form used by the
bootstrap equals the plain function on every resample; bootstrap intervals contain the
point estimate for the metrics whose bootstrap distribution is centred on it.
"""

from __future__ import annotations

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from harness.plugins.metrics import BUILTIN_METRICS, hle_calib_err, rms_calib_err
from harness.statistics.bootstrap import bootstrap_ci, draw, replicates

RANGES = {
    "hle_calib_err": (0.0, 1.0),
    "rms_calib_err": (0.0, 1.0),
    "debiased_calib_err": (0.0, 1.0),
    "ece": (0.0, 1.0),
    "brier": (0.0, 1.0),
    "auroc": (0.0, 1.0),
    "accuracy": (0.0, 1.0),
    "mean_confidence": (0.0, 1.0),
    "confidence_std": (0.0, 0.5),
    "aurc": (0.0, 1.0),
    "accuracy_at_coverage": (0.0, 1.0),
}
EPS = 1e-12


@st.composite
def runs(draw: st.DrawFn, min_size: int = 1, max_size: int = 260, distinct: bool = False) -> tuple:
    """(confidence, correct): continuous confidences, or on a grid of tenths (many ties)."""
    n = draw(st.integers(min_size, max_size))
    if distinct:
        confidence = draw(hnp.arrays(np.float64, n, elements=st.floats(0, 1), unique=True))
    elif draw(st.booleans()):
        confidence = draw(hnp.arrays(np.float64, n, elements=st.sampled_from([k / 10 for k in range(11)])))
    else:
        confidence = draw(hnp.arrays(np.float64, n, elements=st.floats(0, 1)))
    correct = draw(hnp.arrays(np.bool_, n))
    return confidence, correct


def defined(name: str, confidence: np.ndarray, correct: np.ndarray) -> bool:
    if name == "hle_calib_err":
        return len(confidence) >= 100
    if name == "auroc":
        return 0 < correct.sum() < len(correct)
    return True


@settings(max_examples=60, deadline=None)
@given(runs())
def test_every_metric_stays_in_its_range(run: tuple) -> None:
    for name, fn in BUILTIN_METRICS.items():
        if defined(name, *run):
            low, high = RANGES[name]
            assert low - EPS <= fn(*run) <= high + EPS, name


@settings(max_examples=60, deadline=None)
@given(runs(), st.randoms(use_true_random=False))
def test_every_metric_but_hle_ignores_the_order_of_the_input(run: tuple, random) -> None:  # noqa: ANN001
    confidence, correct = run
    order = np.array(random.sample(range(len(confidence)), len(confidence)))
    for name, fn in BUILTIN_METRICS.items():
        if name != "hle_calib_err" and defined(name, confidence, correct):
            assert abs(fn(confidence, correct) - fn(confidence[order], correct[order])) <= 1e-12, name


@settings(max_examples=30, deadline=None)
@given(runs(min_size=100, max_size=400, distinct=True), st.randoms(use_true_random=False))
def test_hle_ignores_the_order_when_no_confidences_tie(run: tuple, random) -> None:  # noqa: ANN001
    confidence, correct = run
    order = np.array(random.sample(range(len(confidence)), len(confidence)))
    assert hle_calib_err(confidence, correct) == hle_calib_err(confidence[order], correct[order])


@settings(max_examples=30, deadline=None)
@given(runs(min_size=100, max_size=400, distinct=True))
def test_hle_never_exceeds_the_estimator_with_every_bin(run: tuple) -> None:
    assert hle_calib_err(*run) <= rms_calib_err(*run) + 1e-12


@settings(max_examples=25, deadline=None)
@given(runs(min_size=1, max_size=150), st.integers(0, 2**16))
# a resample of equal values: np.std reads 0, E[x^2] - E[x]^2 read 3.7e-9
@example(run=(np.array([0.5, 0.0, 0.0]), np.array([False, False, False])), seed=0)
def test_batched_forms_equal_the_plain_functions_on_each_resample(run: tuple, seed: int) -> None:
    confidence, correct = run
    resamples = draw(len(confidence), 8, seed)
    for name, fn in BUILTIN_METRICS.items():
        if name == "hle_calib_err" and len(confidence) < 100:
            continue
        batched = replicates(fn, confidence, correct, resamples)
        for r, idx in enumerate(resamples.indices):
            if not defined(name, confidence[idx], correct[idx]):
                assert np.isnan(batched[r]), name
                continue
            if name == "hle_calib_err" and len(np.unique(confidence)) < len(confidence):
                continue  # its unstable order of ties is not reproduced in the bootstrap
            assert abs(batched[r] - fn(confidence[idx], correct[idx])) <= 1e-9, name


CENTRED = ("accuracy", "mean_confidence", "brier", "confidence_std", "auroc", "aurc", "accuracy_at_coverage")


@settings(max_examples=40, deadline=None)
@given(runs(min_size=2, max_size=200), st.integers(0, 2**16))
def test_bootstrap_intervals_contain_the_point_estimate(run: tuple, seed: int) -> None:
    for name in CENTRED:
        fn = BUILTIN_METRICS[name]
        if not defined(name, *run):
            continue
        value = fn(*run)
        ci = bootstrap_ci(fn, *run, resamples=400, seed=seed)
        assert ci is not None
        assert ci[0] - 1e-12 <= value <= ci[1] + 1e-12, (name, value, ci)
