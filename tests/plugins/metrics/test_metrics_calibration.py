"""rms_calib_err and ece on cases small enough to compute by hand."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from harness.errors import InputError, InsufficientDataError, ParameterError
from harness.plugins.metrics import ece, hle_calib_err, rms_calib_err
from harness.plugins.metrics.calibration import bin_index, effective_beta
from harness.statistics.bootstrap import draw, replicates

CONF = np.array([0.1, 0.3, 0.9, 0.9, 0.9])
CORRECT = np.array([0, 0, 1, 1, 0])


def test_rms_bins_of_beta_with_the_last_absorbing_the_remainder() -> None:
    # beta=2, n=5: bins [0, 2) (conf 0.2, acc 0) and [2, 5) (conf 0.9, acc 2/3).
    gap1, gap2 = 0.2, 0.9 - 2 / 3
    assert rms_calib_err(CONF, CORRECT, beta=2) == pytest.approx(np.sqrt(2 / 5 * gap1**2 + 3 / 5 * gap2**2))
    assert rms_calib_err(CONF, CORRECT, p="1", beta=2) == pytest.approx(2 / 5 * gap1 + 3 / 5 * gap2)
    assert rms_calib_err(CONF, CORRECT, p="infty", beta=2) == pytest.approx(gap2)
    # HLE on the same bins keeps only the first one.
    assert hle_calib_err(CONF, CORRECT, beta=2) == pytest.approx(np.sqrt(2 / 5 * gap1**2))


def test_rms_with_fewer_than_beta_answers_is_one_bin() -> None:
    # One bin: |mean confidence - accuracy| = |0.62 - 0.4|.
    assert rms_calib_err(CONF, CORRECT) == pytest.approx(0.22)
    assert rms_calib_err([0.7], [True]) == pytest.approx(0.3)


def test_rms_is_zero_where_hle_is_zero_only_by_its_quirk() -> None:
    # 150 answers: HLE gives 0.0 for any 100 <= n < 200; here the answers are far from calibrated.
    confidence = np.array([0.5] * 100 + [0.9] * 50)
    correct = np.array([True] * 50 + [False] * 50 + [True] * 15 + [False] * 35)
    assert hle_calib_err(confidence, correct) == 0.0
    # rms: bins of 100 -> one bin [0, 150): mean confidence 95/150, accuracy 65/150.
    assert rms_calib_err(confidence, correct) == pytest.approx(0.2)


def test_rms_splits_tied_confidences_across_a_bin_edge_evenly() -> None:
    # Four answers at 0.5, two right: whatever their order, each bin of 2 gets one hit on average.
    confidence = np.full(4, 0.5)
    for correct in ([1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 0, 1]):
        assert rms_calib_err(confidence, np.array(correct), beta=2) == 0.0
    # Ties wholly inside a bin are unaffected: 0.4 x2 (both wrong), then 0.8 x2 (both right).
    expected = np.sqrt(0.5 * 0.4**2 + 0.5 * 0.2**2)
    assert rms_calib_err([0.8, 0.4, 0.8, 0.4], [1, 0, 1, 0], beta=2) == pytest.approx(expected)


def test_rms_adaptive_beta_gives_about_ten_bins_on_small_sets() -> None:
    assert effective_beta(512, 100, adaptive=True) == 51
    assert effective_beta(5000, 100, adaptive=True) == 100
    assert effective_beta(7, 100, adaptive=True) == 1
    assert effective_beta(512, 100, adaptive=False) == 100
    # With beta 1 every answer is its own bin: the RMS error is the square root of the Brier score.
    confidence = np.array([0.9, 0.2, 0.6, 0.7, 0.1])
    correct = np.array([1, 0, 0, 1, 1])
    assert rms_calib_err(confidence, correct, adaptive=True) == pytest.approx(
        np.sqrt(np.mean((confidence - correct) ** 2))
    )


def test_rms_rejects_bad_parameters_and_inputs() -> None:
    with pytest.raises(ParameterError, match="beta"):
        rms_calib_err(CONF, CORRECT, beta=2.5)
    with pytest.raises(ParameterError, match="p must be"):
        rms_calib_err(CONF, CORRECT, p="3")
    with pytest.raises(InsufficientDataError, match="no examples"):
        rms_calib_err([], [])
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        rms_calib_err([1.5], [1])
    with pytest.raises(InputError, match="0/1"):
        rms_calib_err([0.5], [2])


def test_ece_equal_width_bins_weighted_by_size() -> None:
    confidence = np.array([0.05, 0.15, 0.15, 0.95])
    correct = np.array([0, 1, 0, 1])
    # bins 0, 1, 9: 1/4 * 0.05 + 2/4 * |0.15 - 0.5| + 1/4 * 0.05
    assert ece(confidence, correct) == pytest.approx(0.2)
    # One bin: |mean confidence - accuracy| = |0.325 - 0.5|.
    assert ece(confidence, correct, bins=1) == pytest.approx(0.175)


def test_ece_bin_edges_are_left_closed_and_one_belongs_to_the_last_bin() -> None:
    assert bin_index(np.array([0.0, 0.1, 0.29, 0.3, 0.7, 0.99, 1.0]), 10).tolist() == [0, 1, 2, 3, 7, 9, 9]
    # 0.3 and 0.29 in different bins: (|0.3 - 1| + |0.29 - 0|) / 2.
    assert ece([0.3, 0.29], [1, 0]) == pytest.approx(0.495)
    with pytest.raises(ParameterError, match="bins"):
        ece([0.3], [1], bins=0)


def test_perfectly_calibrated_bins_have_zero_error() -> None:
    confidence = np.array([0.25] * 4 + [0.75] * 4)
    correct = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    assert ece(confidence, correct) == pytest.approx(0.0, abs=1e-15)
    assert rms_calib_err(confidence, correct, beta=4) == pytest.approx(0.0, abs=1e-15)


def _ece_reference(confidence: np.ndarray, correct: np.ndarray, bins: int) -> float:
    """ECE by its definition, bin by bin with a mask (no running sums, no tie groups)."""
    member = np.minimum(np.floor(confidence * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = member == b
        if mask.any():
            total += mask.sum() / len(confidence) * abs(confidence[mask].mean() - correct[mask].mean())
    return total


@pytest.mark.parametrize("bins", [1, 2, 3, 7, 10, 15, 40])
def test_ece_and_its_batched_form_equal_the_definition_on_every_resample(bins: int) -> None:
    rng = np.random.default_rng(bins)
    edges = np.arange(bins + 1) / bins  # values exactly on bin edges, 0 and 1 included
    confidence = np.concatenate([rng.random(150), rng.choice(edges, 60), rng.choice([0.05, 0.5], 40)])
    correct = rng.random(confidence.size) < confidence
    assert ece(confidence, correct, bins=bins) == pytest.approx(
        _ece_reference(confidence, correct, bins), rel=1e-12, abs=1e-15
    )
    resamples = draw(confidence.size, 40, seed=bins)
    batched = replicates(functools.partial(ece, bins=bins), confidence, correct, resamples)  # batched form
    for r, idx in enumerate(resamples.indices):
        expected = _ece_reference(confidence[idx], correct[idx], bins)
        assert batched[r] == pytest.approx(expected, rel=1e-12, abs=1e-15), r
