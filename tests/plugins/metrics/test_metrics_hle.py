"""hle_calib_err is Humanity's Last Exam's calib_err, bit for bit, and each of its quirks is pinned."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import InsufficientDataError, ParameterError
from harness.plugins.metrics import hle_calib_err, hle_percent, rms_calib_err


# The oracle: HLE's reference algorithm as published in hle_eval/run_judge_results.py
# (MIT licence; taken there from hendrycks/outlier-exposure utils/calibration_tools.py),
# transcribed unchanged apart from formatting.
def calib_err(confidence, correct, p="2", beta=100):  # noqa: ANN001, ANN201
    # beta is target bin size
    idxs = np.argsort(confidence)
    confidence = confidence[idxs]
    correct = correct[idxs]
    bins = [[i * beta, (i + 1) * beta] for i in range(len(confidence) // beta)]
    bins[-1] = [bins[-1][0], len(confidence)]

    cerr = 0
    total_examples = len(confidence)
    for i in range(len(bins) - 1):
        bin_confidence = confidence[bins[i][0] : bins[i][1]]
        bin_correct = correct[bins[i][0] : bins[i][1]]
        num_examples_in_bin = len(bin_confidence)

        if num_examples_in_bin > 0:
            difference = np.abs(np.nanmean(bin_confidence) - np.nanmean(bin_correct))

            if p == "2":
                cerr += num_examples_in_bin / total_examples * np.square(difference)
            elif p == "1":
                cerr += num_examples_in_bin / total_examples * difference
            elif p == "infty" or p == "infinity" or p == "max":
                cerr = np.maximum(cerr, difference)
            else:
                raise AssertionError("p must be '1', '2', or 'infty'")

    if p == "2":
        cerr = np.sqrt(cerr)

    return cerr


def hle_style(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """As HLE builds its arrays: integer percentages / 100 (ties are the norm) and booleans."""
    rng = np.random.default_rng(seed)
    percent = rng.integers(0, 101, n)
    return np.array(percent) / 100, np.array(rng.random(n) < percent / 120)


@pytest.mark.parametrize("p", ["2", "1", "infty"])
@pytest.mark.parametrize("n", [100, 150, 199, 200, 201, 437, 1000, 2500, 4326])
def test_matches_the_reference_on_tied_integer_percentages(n: int, p: str) -> None:
    for seed in range(3):
        confidence, correct = hle_style(n, seed)
        expected = float(calib_err(confidence, correct, p=p, beta=100))
        got = hle_calib_err(confidence, correct, p=p, beta=100)
        assert abs(got - expected) <= 1e-12
        assert got == expected  # in fact bit for bit


@pytest.mark.parametrize("beta", [1, 7, 50, 100, 333])
def test_matches_the_reference_on_continuous_confidences_and_other_betas(beta: int) -> None:
    rng = np.random.default_rng(beta)
    for n in (beta, 2 * beta - 1, 3 * beta + 5, 1234):
        confidence = rng.random(n)
        correct = rng.random(n) < confidence
        expected = float(calib_err(confidence, correct, beta=beta))
        assert hle_calib_err(confidence, correct, beta=beta) == expected


def test_accepts_zero_one_integers_for_correct_like_booleans() -> None:
    confidence, correct = hle_style(700, 5)
    assert hle_calib_err(confidence, correct.astype(int)) == float(calib_err(confidence, correct))


def test_quirk_the_most_confident_bin_is_left_out() -> None:
    # 100 answers at 0.6, 60 correct (calibrated), then 150 at 0.95, 75 correct (overconfident).
    confidence = np.array([0.6] * 100 + [0.95] * 150)
    correct = np.array([True] * 60 + [False] * 40 + [True] * 75 + [False] * 75)
    # Bins: [0, 100) and [100, 250) (the last absorbs the remainder); HLE only visits the first.
    assert hle_calib_err(confidence, correct) == 0.0
    # Every bin included: sqrt(150/250 * (0.95 - 0.5)**2).
    assert rms_calib_err(confidence, correct) == pytest.approx(np.sqrt(0.6 * 0.45**2), abs=1e-12)


def test_quirk_the_left_out_bin_still_weighs_in_n() -> None:
    # Bins [0, 100) (all wrong at 0.3: gap 0.3) and [100, 250) (calibrated at 0.8, left out).
    confidence = np.array([0.3] * 100 + [0.8] * 150)
    correct = np.array([False] * 100 + [True] * 120 + [False] * 30)
    # The visited bin weighs 100/250, not 100/100: HLE reports 0.19, not 0.3.
    assert hle_calib_err(confidence, correct) == pytest.approx(np.sqrt(100 / 250 * 0.3**2), abs=1e-12)


@pytest.mark.parametrize("n", [100, 101, 150, 199])
def test_quirk_between_beta_and_two_beta_examples_is_always_zero(n: int) -> None:
    # Everything wrong at confidence 1.0: as miscalibrated as can be.
    confidence, correct = np.ones(n), np.zeros(n, dtype=bool)
    assert hle_calib_err(confidence, correct) == 0.0
    assert rms_calib_err(confidence, correct) == 1.0


def test_quirk_fewer_than_beta_examples_is_a_typed_one_line_error_not_an_index_error() -> None:
    confidence, correct = hle_style(99, 0)
    with pytest.raises(IndexError):
        calib_err(confidence, correct)
    with pytest.raises(InsufficientDataError, match="at least beta=100 examples, got 99") as info:
        hle_calib_err(confidence, correct)
    assert "\n" not in str(info.value)
    assert hle_calib_err(confidence, correct, beta=10) == float(calib_err(confidence, correct, beta=10))


def test_quirk_ties_are_ordered_by_numpys_default_sort_so_input_order_can_change_the_result() -> None:
    # 300 answers at one confidence: bins [0, 100) and [100, 300), and HLE only looks at the first.
    # Which 100 answers land there depends on how the unstable sort orders the ties.
    rng = np.random.default_rng(0)
    confidence = np.full(300, 0.5)
    correct = np.array([True] * 150 + [False] * 150)
    values = set()
    for _ in range(20):
        order = rng.permutation(300)
        got = hle_calib_err(confidence[order], correct[order])
        assert got == float(calib_err(confidence[order], correct[order]))
        values.add(got)
    assert len(values) > 1
    # The corrected estimator splits the ties evenly: perfectly calibrated whatever the order.
    assert {rms_calib_err(confidence[rng.permutation(300)], correct) for _ in range(5)} == {0.0}


def test_norms_p_accept_hles_spellings_and_command_line_numbers() -> None:
    confidence, correct = hle_style(500, 1)
    assert hle_calib_err(confidence, correct, p="max") == hle_calib_err(confidence, correct, p="infty")
    assert hle_calib_err(confidence, correct, p=1) == hle_calib_err(confidence, correct, p="1")
    with pytest.raises(ParameterError, match="p must be"):
        hle_calib_err(confidence, correct, p="3")
    with pytest.raises(ParameterError, match="beta"):
        hle_calib_err(confidence, correct, beta=0)


def test_hle_percent_is_hles_printed_form() -> None:
    confidence, correct = hle_style(2500, 2)
    err = calib_err(confidence, correct, p="2", beta=100)
    assert hle_percent(hle_calib_err(confidence, correct)) == 100 * round(err, 2)
    assert hle_percent(0.123) == 12.0
    assert hle_percent(0.0) == 0.0
