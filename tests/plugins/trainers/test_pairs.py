"""Preference pairs of the explicit trainer: calibrated targets and rejected confidences.

The targets come from a registered calibrator (``histogram`` with ``monotone = true`` by
default); a copy of the trainer's own binned/isotonic fit from before that switch is kept
here as the reference that the targets' values did not change."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import ParameterError
from harness.plugins.calibrators.pav import pool_adjacent_violators
from harness.plugins.extractors.verbalized import VerbalizedExtractor
from harness.plugins.trainers.pairs import (
    calibrated_targets,
    fit_target_map,
    make_pairs,
    rejected_confidences,
)
from harness.records import Example, TrainingRecord


def record(i: int, confidence: float | None, correct: bool, answer: str = "Velmora") -> TrainingRecord:
    example = Example(id=f"q{i}", question=f"Where was person {i} born?", answer="Velmora")
    return TrainingRecord(
        example=example,
        prompt=f"Question: {example.question}\nAnswer:",
        completion=f" {answer}\n",
        answer=answer,
        confidence=confidence,
        correct=correct,
    )


confidences = st.lists(
    st.tuples(st.one_of(st.none(), st.floats(0, 1)), st.booleans()), min_size=1, max_size=60
)


@settings(max_examples=60, deadline=None)
@given(data=confidences, method=st.sampled_from(["histogram", "binned", "isotonic", "platt", "temperature"]),
       bins=st.integers(1, 12))
def test_empirical_targets_lie_in_0_1_and_are_monotone_in_the_logprob_confidence(data, method, bins):
    records = [record(i, c, k) for i, (c, k) in enumerate(data)]
    targets, fitted = calibrated_targets(records, target="empirical", calibrator=method, bins=bins)
    assert all(0.0 <= t <= 1.0 for t in targets)
    grid = np.linspace(0, 1, 201)
    values = [fitted(float(x)) for x in grid]
    assert all(a <= b + 1e-12 for a, b in zip(values, values[1:], strict=False))
    pairs = zip(records, targets, strict=True)
    known = sorted((r.confidence, t) for r, t in pairs if r.confidence is not None)
    assert all(t1 <= t2 for (_, t1), (_, t2) in zip(known, known[1:], strict=False))


def test_binned_targets_are_the_accuracy_of_each_quantile_bin():
    # low confidences mostly wrong, high ones mostly right: two bins of five
    data = [(0.1, False), (0.15, False), (0.2, True), (0.25, False), (0.3, False)]
    data += [(0.7, True), (0.75, True), (0.8, False), (0.85, True), (0.9, True)]
    records = [record(i, c, k) for i, (c, k) in enumerate(data)]
    targets, fitted = calibrated_targets(records, target="empirical", calibrator="histogram", bins=2)
    assert targets == [0.2] * 5 + [0.8] * 5
    assert fitted(None) == pytest.approx(0.5)  # no confidence: the split's accuracy


def test_binned_accuracy_that_falls_with_confidence_is_pooled_into_one_level():
    data = [(0.2, True), (0.3, True), (0.8, False), (0.9, True)]
    targets, _ = calibrated_targets([record(i, c, k) for i, (c, k) in enumerate(data)], bins=2)
    assert targets == [0.75] * 4


def test_isotonic_targets_follow_the_pooled_accuracy():
    data = [(0.1, False), (0.2, True), (0.3, False), (0.9, True)]
    fitted = fit_target_map([c for c, _ in data], [k for _, k in data], calibrator="isotonic")
    assert [fitted(c) for c, _ in data] == pytest.approx([0.0, 0.5, 0.5, 1.0])


def test_binary_targets_are_high_for_right_and_low_for_wrong_answers():
    targets, fitted = calibrated_targets([record(0, 0.4, True), record(1, 0.9, False)], target="binary")
    assert targets == [0.9, 0.1] and fitted is None


def test_pool_adjacent_violators_is_the_weighted_monotone_fit():
    assert pool_adjacent_violators([1.0, 0.0, 0.5], [1, 1, 2]).tolist() == pytest.approx([0.5, 0.5, 0.5])
    assert pool_adjacent_violators([0.1, 0.4, 0.2], [1, 3, 1]).tolist() == pytest.approx([0.1, 0.35, 0.35])


@settings(max_examples=80, deadline=None)
@given(
    target=st.integers(0, 100).map(lambda v: v / 100),
    distance=st.sampled_from([0.05, 0.1, 0.3, 0.45, 0.5]),
    n=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
)
def test_rejected_confidences_are_distinct_two_decimal_values_at_distance(target, distance, n, seed):
    values = rejected_confidences(target, n, distance, np.random.default_rng(seed))
    available = sum(abs(v / 100 - target) >= distance - 1e-9 for v in range(101))
    assert len(values) == len(set(values)) == min(n, available) >= 1  # fewer only where fewer exist
    assert all(0 <= v <= 1 and abs(v - target) >= distance - 1e-9 for v in values)
    assert all(v == round(v, 2) for v in values)


def test_pairs_state_the_models_answer_in_the_verbalized_format():
    extractor = VerbalizedExtractor()
    records = [record(0, 0.95, True), record(1, 0.9, False, answer="Oslo"), record(2, 0.2, False, answer=" ")]
    targets = [0.8, 0.3, 0.1]
    pairs = make_pairs(records, targets, extractor, n_rejected=2, min_distance=0.3, seed=0)

    assert [p.example_id for p in pairs] == ["q0", "q0", "q1", "q1"]  # the blank answer has no pair
    first = pairs[0]
    assert first.prompt == extractor.prompt(records[0].example)
    assert first.chosen == "Answer: Velmora\nConfidence: 0.80"
    stated = float(re.search(r"Confidence: ([\d.]+)", first.rejected).group(1))
    assert stated == first.rejected_confidence and abs(stated - 0.8) >= 0.3
    assert first.rejected.startswith("Answer: Velmora\n")
    assert pairs[0].rejected != pairs[1].rejected
    assert first.as_dpo() == {"prompt": first.prompt, "chosen": first.chosen, "rejected": first.rejected}


def test_pairs_are_deterministic_by_seed_and_independent_of_record_order():
    extractor = VerbalizedExtractor()
    records = [record(i, i / 20, i % 3 == 0) for i in range(20)]
    targets, _ = calibrated_targets(records)
    once = make_pairs(records, targets, extractor, n_rejected=2, seed=7)
    again = make_pairs(records[::-1], targets[::-1], extractor, n_rejected=2, seed=7)
    other = make_pairs(records, targets, extractor, n_rejected=2, seed=8)
    assert sorted(p.rejected for p in once) == sorted(p.rejected for p in again)
    assert [p.rejected for p in once] != [p.rejected for p in other]


@pytest.mark.parametrize("distance", [0, 0.51, -0.1, True])
def test_a_min_distance_that_leaves_some_target_without_rivals_is_refused(distance):
    with pytest.raises(ParameterError, match="min_distance"):
        make_pairs([record(0, 0.5, True)], [0.5], VerbalizedExtractor(), min_distance=distance)


def test_unknown_target_or_calibrator_is_refused():
    with pytest.raises(ParameterError, match="target"):
        calibrated_targets([record(0, 0.5, True)], target="oracle")
    expected = "calibrator = 'plat'; expected a registered calibrator: .*platt"
    with pytest.raises(ParameterError, match=expected):
        calibrated_targets([record(0, 0.5, True)], calibrator="plat")


def test_one_class_or_a_single_confidence_maps_every_record_to_the_accuracy_of_those_with_one():
    all_right = [record(0, 0.2, True), record(1, 0.9, True), record(2, None, False)]
    targets, fitted = calibrated_targets(all_right)
    assert targets == [1.0, 1.0, 0.67] and "all 2 are correct" in fitted.note
    single = [record(0, 0.7, False), record(1, None, True)]
    targets, fitted = calibrated_targets(single, calibrator="isotonic")
    assert targets == [0.0, 0.5] and "at least 2" in fitted.note
    targets, fitted = calibrated_targets([record(0, None, True), record(1, None, False)])
    assert targets == [0.5, 0.5] and fitted.to_dict()["base_rate"] == 0.5


def test_the_target_map_is_a_monotone_histogram_whose_parameters_are_recorded():
    records = [record(i, i / 40, i % 4 != 0) for i in range(40)]
    _, fitted = calibrated_targets(records, bins=4)
    saved = fitted.to_dict()
    assert saved["calibrator"] == "histogram"
    assert saved["params"] == {"bins": 4, "monotone": True}
    values = saved["fitted"]["values"]
    assert len(saved["fitted"]["edges"]) == 3 and values == sorted(values)


# --- the targets before the switch to registered calibrators ---------------------------------------


def old_fit(confidences, correct, *, method="binned", bins=10):
    """The trainer's own fit before it looked calibrators up by name (verbatim but for the
    returned tuple): ``binned`` = quantile bins + PAV, ``isotonic`` = PAV on distinct values."""
    base_rate = float(np.mean(np.asarray(correct, dtype=float)))
    known = [(float(c), float(k)) for c, k in zip(confidences, correct, strict=True) if c is not None]
    if not known:
        return "binned", (), (base_rate,), base_rate
    x = np.array([c for c, _ in known])
    y = np.array([k for _, k in known])
    if method == "binned":
        edges = np.unique(np.quantile(x, np.linspace(0, 1, max(1, bins) + 1)[1:-1]))
        index = np.searchsorted(edges, x, side="right")
        counts = np.bincount(index, minlength=len(edges) + 1).astype(float)
        hits = np.bincount(index, weights=y, minlength=len(edges) + 1)
        accuracy = np.divide(hits, counts, out=np.full_like(hits, base_rate), where=counts > 0)
        return method, tuple(edges.tolist()), tuple(old_pav(accuracy, counts).tolist()), base_rate
    order = np.unique(x)
    counts = np.array([np.sum(x == value) for value in order], dtype=float)
    means = np.array([np.mean(y[x == value]) for value in order])
    return method, tuple(order.tolist()), tuple(old_pav(means, counts).tolist()), base_rate


def old_pav(values, weights):
    blocks = []
    for value, weight in zip(values, weights, strict=True):
        blocks.append([float(value), float(weight), 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, n2 = blocks.pop()
            v1, w1, n1 = blocks.pop()
            total = w1 + w2
            mean = (v1 * w1 + v2 * w2) / total if total > 0 else (v1 + v2) / 2
            blocks.append([mean, total, n1 + n2])
    return np.array([mean for mean, _, length in blocks for _ in range(int(length))], dtype=float)


def old_targets(records, method, bins):
    import bisect

    kind, knots, values, base_rate = old_fit(
        [r.confidence for r in records], [r.correct for r in records], method=method, bins=bins
    )

    def apply(confidence):
        if confidence is None:
            return base_rate
        if kind == "binned" or not knots:
            return values[bisect.bisect_right(knots, confidence)]
        return float(np.interp(confidence, knots, values))

    return [round(min(1.0, max(0.0, apply(r.confidence))), 2) for r in records]


@pytest.mark.parametrize("seed", range(60))
def test_targets_are_unchanged_in_value_by_the_switch_to_registered_calibrators(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 90))
    confidence = rng.beta(2, 2, n)
    if seed % 3 == 0:  # ties
        confidence = np.round(confidence, 1)
    confidence[rng.random(n) < 0.1] = 1.0
    correct = rng.random(n) < confidence * rng.uniform(0.3, 1.0)
    if seed % 7 == 0:  # one class
        correct[:] = seed % 2 == 0
    records = [
        record(i, None if rng.random() < 0.1 else float(c), bool(k))
        for i, (c, k) in enumerate(zip(confidence, correct, strict=True))
    ]
    bins = int(rng.integers(1, 13))
    for old, new in (("binned", "histogram"), ("binned", "binned"), ("isotonic", "isotonic")):
        targets, _ = calibrated_targets(records, calibrator=new, bins=bins)
        assert targets == old_targets(records, old, bins), (old, new)
