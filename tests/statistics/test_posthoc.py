"""Post-hoc rows (``harness.statistics.posthoc``): no map scores an answer it was fitted on, nor one of its
group; the base-rate constant predicts the training accuracy; a calibration split fits each map
once and leaves every figure to the rest; grouped folds keep each group in one fold."""

from __future__ import annotations

import numpy as np
import pytest
from plugin_helpers import installed

from harness import hookimpl
from harness.errors import InputError
from harness.machinery.config import Config
from harness.statistics.assessment import RowKey
from harness.statistics.outcomes import Outcome
from harness.statistics.posthoc import BASE_RATE, Scheme, crossfit, cv_brier, fitted_summary, posthoc_rows
from harness.statistics.splits import group_folds


def outcomes(n: int = 120, seed: int = 0, per_group: int = 3, prefix: str = "q") -> list[Outcome]:
    """Answers right more often when more confident; ``per_group`` answers share a group."""
    rng = np.random.default_rng(seed)
    conf = rng.uniform(0.0, 1.0, n)
    right = rng.random(n) < conf
    return [Outcome(example_id=f"{prefix}{i}", grade="correct" if r else "incorrect", confidence=float(c),
                    group=f"{prefix}g{i // per_group}")
            for i, (c, r) in enumerate(zip(conf, right, strict=True))]


class LeakDetector:
    """Maps a confidence it was fitted on to 1.0 and any other to 0.0: a calibrated confidence of
    1.0 is an answer scored by a map that saw it (or, with one confidence per group, its group)."""

    name = "leak"

    def fit(self, confidence, correct) -> None:  # type: ignore[no-untyped-def]
        self.seen = set(np.asarray(confidence).tolist())

    def __call__(self, confidence):  # type: ignore[no-untyped-def]
        return np.array([1.0 if c in self.seen else 0.0 for c in np.asarray(confidence).tolist()])

    def fitted(self) -> dict:
        return {"seen": len(self.seen)}


class LeakPlugin:
    @hookimpl
    def register_calibrators(self, register):  # type: ignore[no-untyped-def]
        register("leak", LeakDetector)


def test_group_folds_keep_every_group_in_one_fold_and_are_near_equal():
    groups = [f"g{i // 3}" for i in range(300)] + [f"solo{i}" for i in range(7)]
    folds = group_folds(groups, 5, seed=1)
    fold_of: dict[str, set[int]] = {}
    for g, f in zip(groups, folds, strict=True):
        fold_of.setdefault(g, set()).add(f)
    assert all(len(f) == 1 for f in fold_of.values())
    sizes = np.bincount(folds)
    assert len(sizes) == 5 and sizes.max() - sizes.min() <= 3
    assert folds == group_folds(groups, 5, seed=1) and folds != group_folds(groups, 5, seed=2)


def test_fewer_groups_than_folds_use_as_many_folds_as_groups():
    assert sorted(set(group_folds(["a", "a", "b"], 5, seed=0))) == [0, 1]
    with pytest.raises(InputError):
        group_folds(["a", "b"], 1, seed=0)


def test_a_cross_fitted_confidence_never_comes_from_a_map_that_saw_its_group():
    rows = outcomes(150)
    # one confidence per group: a map that saw any answer of the group would recognise it
    names = sorted({str(o.group) for o in rows})
    by_group = {g: round(0.01 + 0.98 * k / len(names), 6) for k, g in enumerate(names)}
    rows = [o.with_confidence(by_group[o.group]) for o in rows]
    with installed(LeakPlugin(), name="leak-calibrator"):
        mapped, fit = crossfit("leak", Config.load(), rows, folds=5, seed=3)
    assert mapped is not None and [o.example_id for o in mapped] == [o.example_id for o in rows]
    assert all(o.confidence == 0.0 for o in mapped)
    assert fit["scheme"] == "crossfit" and fit["folds"] == 5
    assert sum(f["scored"] for f in fit["per_fold"]) == len(rows)
    assert all(f["fitted_on"] + f["scored"] == len(rows) for f in fit["per_fold"])


def test_the_same_map_fitted_on_everything_would_have_been_caught():
    """The detector's counterpart: fitted on the answers it scores, every confidence is 1.0."""
    rows = outcomes(60)
    with installed(LeakPlugin(), name="leak-calibrator"):
        from harness.statistics.posthoc import calibrate

        mapped, _ = calibrate("leak", Config.load(), rows, rows)
    assert mapped is not None and all(o.confidence == 1.0 for o in mapped)


def test_a_map_that_cannot_be_fitted_in_some_fold_gives_no_row_and_its_reason():
    rows = [Outcome(example_id=f"q{i}", grade="incorrect", confidence=0.5, group=f"g{i}") for i in range(20)]
    mapped, fit = crossfit("isotonic", Config.load(), rows, folds=5)
    assert mapped is None and "could not be fitted" in fit["error"] and "fold 1 of 5" in fit["error"]


def test_posthoc_rows_cross_fit_both_models_and_the_base_rate_predicts_the_training_accuracy():
    test, train = outcomes(150, seed=1), outcomes(150, seed=2, prefix="t")
    base, trained = RowKey(label="baseline", extractor="logprob"), RowKey(label="brier", extractor="logprob")
    rows, fits = posthoc_rows({base: test, trained: test}, {base: train}, ["isotonic"], Config.load(),
                              Scheme(folds=5, seed=0))
    assert set(rows) == {base, trained, RowKey(label="baseline", extractor="logprob", calibrator="isotonic"),
                         RowKey(label="baseline", extractor="logprob", calibrator=BASE_RATE),
                         RowKey(label="brier", extractor="logprob", calibrator="isotonic")}
    rate = np.mean([o.grade == "correct" for o in train])
    constant = rows[RowKey(label="baseline", extractor="logprob", calibrator=BASE_RATE)]
    assert all(o.confidence == pytest.approx(rate) for o in constant)
    for key, fit in fits.items():  # only the baseline's maps are chosen among, on the training split
        assert ("selection" in fit) == (key.label == "baseline")
        if key.label == "baseline":
            assert fit["selection"]["n"] == len(train)
            assert fit["selection"]["cv_brier"] == pytest.approx(
                cv_brier(str(key.calibrator), Config.load(), train)["cv_brier"])
    assert "training-split CV Brier" in fitted_summary(fits[RowKey(label="baseline", extractor="logprob",
                                                                   calibrator="isotonic")])


def test_a_calibration_split_fits_once_and_leaves_only_the_rest_in_every_row():
    test, train = outcomes(150, seed=1), outcomes(150, seed=2, prefix="t")
    calibration = frozenset(o.example_id for o in test if int(o.group[2:]) % 3 == 0)
    base = RowKey(label="baseline", extractor="logprob")
    with installed(LeakPlugin(), name="leak-calibrator"):
        rows, fits = posthoc_rows({base: test}, {base: train}, ["leak"], Config.load(),
                                  Scheme(calibration_ids=calibration))
    rest = {o.example_id for o in test} - calibration
    assert all({o.example_id for o in items} == rest for items in rows.values())
    leak = RowKey(label="baseline", extractor="logprob", calibrator="leak")
    assert fits[leak]["scheme"] == "calibration" and fits[leak]["fitted_on"] == len(calibration)
    assert all(o.confidence == 0.0 for o in rows[leak])  # no answer of the rest was fitted on
    assert Scheme(calibration_ids=calibration).to_dict()["scheme"] == "calibration"
