"""auroc, aurc and accuracy_at_coverage by hand, against scikit-learn, and by brute force on ties."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from harness.errors import InsufficientDataError, ParameterError
from harness.plugins.metrics import accuracy_at_coverage, aurc, auroc


def test_auroc_counts_correct_answers_ranked_above_incorrect_ones() -> None:
    # Pairs (correct, incorrect): (.9, .8) win, (.9, .6) win, (.7, .8) loss, (.7, .6) win.
    assert auroc([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0]) == 0.75
    assert auroc([0.5, 0.5], [1, 0]) == 0.5  # a tie counts one half
    assert auroc([0.9, 0.1], [1, 0]) == 1.0
    assert auroc([0.1, 0.9], [1, 0]) == 0.0


@pytest.mark.parametrize("seed", range(5))
def test_auroc_agrees_with_scikit_learn_on_tied_confidences(seed: int) -> None:
    rng = np.random.default_rng(seed)
    confidence = rng.integers(0, 11, 500) / 10
    correct = rng.random(500) < confidence
    assert auroc(confidence, correct) == pytest.approx(roc_auc_score(correct, confidence), abs=1e-12)


def test_auroc_is_undefined_with_one_class_only() -> None:
    with pytest.raises(InsufficientDataError, match="both correct and incorrect"):
        auroc([0.2, 0.9], [1, 1])
    with pytest.raises(InsufficientDataError):
        auroc([0.2, 0.9], [0, 0])


def test_aurc_is_the_mean_risk_over_coverages() -> None:
    # Most confident first: risks 0/1, 1/2, 1/3.
    assert aurc([0.9, 0.8, 0.7], [1, 0, 1]) == pytest.approx((0 + 1 / 2 + 1 / 3) / 3)
    assert aurc([0.9, 0.8], [1, 1]) == 0.0
    assert aurc([0.9, 0.8], [0, 0]) == 1.0


def brute_force_over_tie_orders(fn, confidence: np.ndarray, correct: np.ndarray) -> float:  # noqa: ANN001
    """Average of a rank metric over every order of the tied answers (most confident first)."""
    values = []
    for order in itertools.permutations(range(len(confidence))):
        ranked = np.array(order)
        ranked = ranked[np.argsort(-confidence[ranked], kind="stable")]
        if all(confidence[ranked][i] >= confidence[ranked][i + 1] for i in range(len(ranked) - 1)):
            values.append(fn(correct[ranked]))
    return float(np.mean(values))


def aurc_of_ranking(correct_ranked: np.ndarray) -> float:
    errors = np.cumsum(1 - correct_ranked)
    return float(np.mean(errors / np.arange(1, len(correct_ranked) + 1)))


@pytest.mark.parametrize(
    ("confidence", "correct"),
    [
        ([0.5, 0.5], [1, 0]),
        ([0.9, 0.5, 0.5, 0.5, 0.1], [0, 1, 0, 1, 1]),
        ([0.7, 0.7, 0.7, 0.2, 0.2, 0.9], [1, 0, 0, 1, 0, 1]),
    ],
)
def test_ranking_metrics_on_ties_are_the_average_over_every_order_of_the_ties(
    confidence: list[float], correct: list[int]
) -> None:
    confidence, correct = np.array(confidence), np.array(correct)
    assert aurc(confidence, correct) == pytest.approx(
        brute_force_over_tie_orders(aurc_of_ranking, confidence, correct), abs=1e-12
    )
    for coverage in (0.2, 0.5, 0.6, 1.0):
        k = int(np.ceil(coverage * len(correct)))
        assert accuracy_at_coverage(confidence, correct, coverage=coverage) == pytest.approx(
            brute_force_over_tie_orders(lambda ranked, k=k: float(np.mean(ranked[:k])), confidence, correct),
            abs=1e-12,
        )


def test_accuracy_at_coverage_keeps_the_most_confident_fraction() -> None:
    confidence = [0.9, 0.8, 0.7, 0.6, 0.5]
    correct = [1, 1, 0, 1, 0]
    assert accuracy_at_coverage(confidence, correct, coverage=0.4) == 1.0  # top 2
    assert accuracy_at_coverage(confidence, correct, coverage=0.5) == pytest.approx(2 / 3)  # ceil(2.5) = 3
    assert accuracy_at_coverage(confidence, correct, coverage=1.0) == pytest.approx(3 / 5)
    assert accuracy_at_coverage(confidence, correct, coverage=0.01) == 1.0  # at least one answer
    with pytest.raises(ParameterError, match="coverage"):
        accuracy_at_coverage(confidence, correct, coverage=0.0)


@pytest.mark.parametrize("percent", [False, True])
def test_running_sums_from_integer_counts_equal_the_float_running_sums(percent: bool) -> None:
    # The tie groups keep their integer counts and sum them in int64 (faster); the running
    # sums the metrics read must be the very numbers the float64 cumsums give.
    from harness.plugins.metrics.grouped import Grouped, group, group_resamples
    from harness.statistics.bootstrap import draw

    rng = np.random.default_rng(int(percent))
    confidence = rng.random(500)
    if percent:
        confidence = np.round(confidence * 100) / 100
    correct = rng.random(500) < confidence
    for g in (group(confidence, correct), group_resamples(confidence, correct, draw(500, 30, seed=3))):
        assert g.counts is not None
        floats = Grouped(g.values, g.size, g.hits, g.n)  # no counts: float64 cumsums
        for name in ("upto", "upto_int", "hits_upto", "misses_upto", "conf_upto"):
            fast, slow = getattr(g, name), getattr(floats, name)
            assert fast.dtype == slow.dtype and np.array_equal(fast, slow), name
