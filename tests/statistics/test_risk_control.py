"""Abstention with a risk guarantee: choosing the confidence threshold by Learn-then-Test."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from harness.errors import ParameterError
from harness.statistics.risk_control import (
    DEFAULT_GRID,
    ThresholdChoice,
    abstains,
    binomial_tail,
    choose_threshold,
    sequence_starts,
)


def _everyone(n: int) -> np.ndarray:
    return np.ones(n, dtype=bool)


def test_the_binomial_tail_is_the_exact_cdf():
    for e, m, a in [(0, 10, 0.1), (3, 10, 0.1), (7, 50, 0.2), (12, 300, 0.05), (0, 1, 0.5)]:
        exact = sum(math.comb(m, k) * a**k * (1 - a) ** (m - k) for k in range(e + 1))
        assert binomial_tail(e, m, a) == pytest.approx(exact, rel=1e-9)
    assert binomial_tail(10, 10, 0.1) == 1.0


def test_all_correct_answers_at_the_lowest_threshold_once_there_is_enough_evidence():
    # 22 right answers: 0.9^22 = 0.098 <= 0.1, so every threshold down to 0 is rejected
    conf = np.linspace(0.05, 0.95, 22)
    choice = choose_threshold(conf, _everyone(22), _everyone(22), alpha=0.1, delta=0.1)
    assert choice.threshold == 0.0
    assert (choice.answered, choice.errors, choice.n) == (22, 0, 22)
    assert not abstains(conf, choice).any()


def test_too_few_answers_control_nothing_and_abstain_on_everything():
    # 21 right answers: 0.9^21 = 0.109 > 0.1, not even a perfect record is evidence enough
    conf = np.full(21, 0.9)
    choice = choose_threshold(conf, _everyone(21), _everyone(21), alpha=0.1, delta=0.1)
    assert choice.threshold is None
    assert (choice.answered, choice.errors) == (0, 0)
    assert abstains(conf, choice).all()
    assert "abstain on everything" in choice.describe()


def test_no_attempted_answer_abstains_on_everything():
    conf = np.full(50, 0.8)
    choice = choose_threshold(conf, np.zeros(50, bool), np.zeros(50, bool), alpha=0.1, delta=0.1)
    assert choice.threshold is None and choice.n == 50


def test_an_answer_the_model_did_not_attempt_is_never_answered_whatever_its_confidence():
    conf = np.concatenate([np.full(30, 0.9), np.full(30, 1.0)])
    correct = np.concatenate([np.ones(30, bool), np.zeros(30, bool)])
    attempted = np.concatenate([np.ones(30, bool), np.zeros(30, bool)])
    choice = choose_threshold(conf, correct, attempted, alpha=0.1, delta=0.1)
    assert choice.threshold == 0.0 and choice.answered == 30 and choice.errors == 0


def test_ties_at_the_threshold_are_answered():
    conf = np.concatenate([np.full(40, 0.7), np.full(40, 0.3)])
    correct = np.concatenate([np.ones(40, bool), np.zeros(40, bool)])
    choice = choose_threshold(conf, correct, _everyone(80), alpha=0.1, delta=0.1)
    # every threshold in (0.3, 0.7] answers the 40 right answers; 0.3 adds the 40 wrong ones
    assert choice.threshold == pytest.approx(0.31)
    assert choice.answered == 40
    assert list(abstains(np.array([0.7, 0.31, 0.3]), choice)) == [False, False, True]


def test_imputed_confidence_one_is_tested_first_and_can_stop_everything():
    # missing confidences are imputed as 1.0 and are mostly wrong: the first threshold tested
    # (1.0) fails, and fixed-sequence testing stops there, though lower answers are right
    conf = np.concatenate([np.full(20, 1.0), np.full(200, 0.8)])
    correct = np.concatenate([np.zeros(20, bool), np.ones(200, bool)])
    choice = choose_threshold(conf, correct, _everyone(220), alpha=0.1, delta=0.1)
    assert choice.threshold is None
    # right imputed answers at 1.0 are simply answered
    correct[:20] = True
    assert choose_threshold(conf, correct, _everyone(220), alpha=0.1, delta=0.1).threshold == 0.0


def test_the_default_grid_holds_one_every_hundredth_and_finer_steps_near_one():
    assert DEFAULT_GRID[-1] == 1.0 and DEFAULT_GRID[0] == 0.0 and len(DEFAULT_GRID) == 101 + 16
    assert 0.7 in DEFAULT_GRID  # a stated "70%" is a threshold itself, not 0.7000000000000001
    assert (DEFAULT_GRID > 0.999).sum() == 13  # token probabilities crowd near 1
    conf = np.concatenate([np.full(100, 0.9995), np.full(100, 0.995)])  # right above, wrong below
    correct = np.arange(200) < 100
    choice = choose_threshold(conf, correct, _everyone(200), alpha=0.1, delta=0.1)
    assert 0.995 < choice.threshold <= 0.9995 and choice.answered == 100


def test_a_choice_round_trips_through_json_and_rejects_a_malformed_record():
    conf = np.linspace(0, 1, 200)
    correct = np.random.default_rng(0).random(200) < conf
    choice = choose_threshold(conf, correct, _everyone(200), alpha=0.2, delta=0.1)
    assert ThresholdChoice.from_dict(choice.to_dict()) == choice
    none = ThresholdChoice(threshold=None, alpha=0.1, delta=0.1, n=3, answered=0, errors=0)
    assert ThresholdChoice.from_dict(none.to_dict()) == none
    with pytest.raises(ParameterError, match="not a threshold choice"):
        ThresholdChoice.from_dict({"threshold": 0.5})


@pytest.mark.parametrize("kwargs, message", [
    ({"alpha": 0.0, "delta": 0.1}, "alpha"),
    ({"alpha": 0.1, "delta": 1.0}, "delta"),
    ({"alpha": 0.1, "delta": 0.1, "grid": np.array([])}, "grid"),
])
def test_bad_levels_and_grids_are_one_clear_error(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        choose_threshold(np.ones(3), _everyone(3), _everyone(3), **kwargs)


def test_arrays_of_different_lengths_or_a_missing_confidence_are_refused():
    with pytest.raises(ParameterError, match="length"):
        choose_threshold(np.ones(3), _everyone(2), _everyone(3), alpha=0.1, delta=0.1)
    with pytest.raises(ParameterError, match="no confidence"):
        choose_threshold(np.array([np.nan, 1.0]), _everyone(2), _everyone(2), alpha=0.1, delta=0.1)


# The guarantee on a population whose risk per threshold is known exactly: confidences uniform on
# the twenty values 0.025, 0.075, ..., 0.975, wrong with probability (1 - c)^0.7 (overconfident).
LEVELS = (np.arange(20) + 0.5) / 20
WRONG = (1 - LEVELS) ** 0.7


def _true_risk(threshold: float) -> float:
    answered = LEVELS >= threshold
    return float(WRONG[answered].mean()) if answered.any() else 0.0


def _exceedances(rule, draws: int, size: int, alpha: float, seed: int) -> tuple[int, float]:
    """How often the rule's threshold has true risk > alpha, and its mean coverage."""
    rng = np.random.default_rng(seed)
    over, covered = 0, 0.0
    for _ in range(draws):
        level = rng.integers(0, 20, size)
        conf, wrong = LEVELS[level], rng.random(size) < WRONG[level]
        threshold = rule(conf, ~wrong)
        if threshold is not None:
            over += _true_risk(threshold) > alpha
            covered += float((LEVELS >= threshold).mean())
    return over, covered / draws


def _naive(conf: np.ndarray, correct: np.ndarray, alpha: float) -> float | None:
    """The lowest threshold whose *empirical* risk is at most alpha: no guarantee."""
    for t in DEFAULT_GRID:
        answered = conf >= t
        if answered.any() and (~correct[answered]).mean() <= alpha:
            return float(t)
    return None


@pytest.mark.slow
def test_the_risk_exceeds_alpha_in_at_most_a_delta_share_of_calibration_sets():
    alpha, delta, draws = 0.3, 0.1, 400

    def ltt(conf, correct):
        return choose_threshold(conf, correct, _everyone(len(conf)), alpha=alpha, delta=delta).threshold

    over, coverage = _exceedances(ltt, draws, 300, alpha, seed=1)
    # not significantly above delta: P(Binomial(400, 0.1) >= over) > 0.001 (over <= 58)
    assert over == 0 or 1 - binomial_tail(over - 1, draws, delta) > 0.001
    assert coverage > 0.1  # and it answers a useful share (at most 0.35 controls the risk)
    # the same measurement catches a rule without the guarantee
    naive_over, _ = _exceedances(lambda c, k: _naive(c, k, alpha), draws, 300, alpha, seed=1)
    assert naive_over / draws > 0.3


def test_it_agrees_with_mapie_where_mapie_reads_the_counts_exactly():
    """MAPIE's BinaryClassificationController (precision, fixed sequence) runs on each of our
    sequences, from its start at its level: its lowest valid threshold over all of them is ours,
    except where its floating-point error count stops it earlier (a higher threshold)."""
    risk_control = pytest.importorskip("mapie.risk_control")
    rng = np.random.default_rng(7)
    grid = DEFAULT_GRID[::-1]
    rounded_up = 0
    for _ in range(20):
        n = 400
        conf = np.round(rng.random(n), 2)
        correct = rng.random(n) < conf ** 0.5
        ours = choose_threshold(conf, correct, _everyone(n), alpha=0.2, delta=0.1)
        answered = np.array([(conf >= t).sum() for t in grid])
        starts, level = sequence_starts(answered, 0.2, 0.1)
        theirs, exact = [], []
        for start in starts:
            controller = risk_control.BinaryClassificationController(
                predict_function=lambda x: np.column_stack([1 - x, x]), risk="precision",
                target_level=0.8, confidence_level=1 - level, list_predict_params=grid[start:],
                fwer_method="fixed_sequence")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                controller.calibrate(conf, correct.astype(int))
            if controller.best_predict_param is not None:
                theirs.append(controller.best_predict_param)
            found = _fixed_sequence_by_mapie(conf, correct, grid[start:], 0.2, level)
            if found is not None:
                exact.append(found)
        mapie_choice = min(theirs) if theirs else None
        exact_choice = min(exact) if exact else None
        assert ours.threshold == exact_choice
        if mapie_choice != ours.threshold:
            rounded_up += 1
            assert ours.threshold is not None and (mapie_choice is None or mapie_choice > ours.threshold)
    assert rounded_up < 20  # mostly the same choice


def _fixed_sequence_by_mapie(conf, correct, grid, alpha, level):
    """MAPIE's fixed-sequence procedure on p-values from exact error counts."""
    from mapie.risk_control import FWERFixedSequenceTesting, control_fwer
    p = []
    for t in grid:
        m = int((conf >= t).sum())
        e = int(((conf >= t) & ~correct).sum())
        p.append(binomial_tail(e, m, alpha) if m else 1.0)
    valid = control_fwer(np.array(p), level, fwer_method=FWERFixedSequenceTesting(n_starts=1))
    return float(grid[max(valid)]) if len(valid) else None


@pytest.mark.slow
def test_wrong_answers_imputed_at_one_do_not_break_the_guarantee():
    """The sequences' starts depend on the confidences above them; answers without a confidence,
    imputed at 1.0 and always wrong (a rising error rate at the very top), are where that could
    bite. With 5% of them the risk still exceeds alpha in no more than a delta share of the draws."""
    alpha, delta, draws, share = 0.3, 0.1, 300, 0.05

    def risk_at(threshold: float) -> float:
        answered = LEVELS >= threshold
        return ((1 - share) * WRONG[answered].sum() / 20 + share) / ((1 - share) * answered.mean() + share)

    rng = np.random.default_rng(5)
    over = 0
    for _ in range(draws):
        imputed, level = rng.random(300) < share, rng.integers(0, 20, 300)
        conf = np.where(imputed, 1.0, LEVELS[level])
        wrong = imputed | (rng.random(300) < WRONG[level])
        threshold = choose_threshold(conf, ~wrong, _everyone(300), alpha=alpha, delta=delta).threshold
        over += threshold is not None and risk_at(threshold) > alpha
    assert over == 0 or 1 - binomial_tail(over - 1, draws, delta) > 0.001
