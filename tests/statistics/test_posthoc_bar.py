"""The post-hoc bar (``harness.statistics.posthoc_bar``): the best map of the untrained model over every
extractor, the base-rate constant included, chosen on the training split; ``beats_posthoc`` and
``adds_to_posthoc`` three-valued by the paired CI of the Brier difference; ``harness check``
reads the stored calibrated confidences and refits nothing.

Every case goes through the real path: outcomes → ``harness.statistics.posthoc.posthoc_rows`` (cross-fitting,
the bar's selection) → ``harness.statistics.assessment.assess``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.machinery.config import Config
from harness.reporting.check import check_run
from harness.reporting.run_folder import SCHEMA
from harness.statistics.assessment import RowKey, Settings, assess
from harness.statistics.criteria import thresholds_from
from harness.statistics.outcomes import Outcome, write
from harness.statistics.posthoc import Scheme, posthoc_rows
from harness.statistics.posthoc_bar import FAIL, INCONCLUSIVE, PASS, log_loss, outcome_of

CONFIG = Config.load()


def answers(n: int, seed: int, *, informative: bool, prefix: str = "q") -> tuple[list[Outcome], np.ndarray]:
    """(outcomes, each answer's real chance of being right). ``informative``: the confidence is that
    chance pushed up by 0.2 (overconfident); else uniform noise."""
    rng = np.random.default_rng(seed)
    chance = rng.uniform(0.1, 0.9, n)
    right = rng.random(n) < chance
    conf = np.clip(chance + 0.2, 0, 1) if informative else rng.uniform(0, 1, n)
    return [Outcome(example_id=f"{prefix}{i}", grade="correct" if r else "incorrect", confidence=float(c),
                    group=f"{prefix}g{i // 3}")
            for i, (c, r) in enumerate(zip(conf, right, strict=True))], chance


def with_confidence(rows: list[Outcome], conf) -> list[Outcome]:  # type: ignore[no-untyped-def]
    return [o.with_confidence(float(c)) for o, c in zip(rows, conf, strict=True)]


def key(label: str, extractor: str = "logprob", calibrator: str | None = None) -> RowKey:
    return RowKey(label=label, extractor=extractor, calibrator=calibrator)


def run(test: dict[RowKey, list[Outcome]], train: dict[RowKey, list[Outcome]],
        calibrators=("temperature", "isotonic"), seed: int = 0, resamples: int = 300):  # type: ignore[no-untyped-def]
    rows, fits = posthoc_rows(test, train, list(calibrators), CONFIG, Scheme(seed=seed))
    settings = Settings(thresholds=thresholds_from(CONFIG), config=CONFIG, seed=seed, resamples=resamples)
    trainers = {k.label: k.extractor for k in test if k.label != "baseline"}
    return assess(rows, trainers, settings, held_out=True, fits=fits), rows, fits


def test_the_verdict_is_read_from_the_interval_of_the_brier_difference():
    assert outcome_of([-0.03, -0.001]) == PASS
    assert outcome_of([0.0, 0.02]) == FAIL and outcome_of([0.0, 0.0]) == FAIL
    assert outcome_of([-0.01, 0.01]) == INCONCLUSIVE and outcome_of(None) == INCONCLUSIVE


@pytest.mark.parametrize("unit", ["group", "example"])
def test_the_brier_interval_is_the_runs_paired_bootstrap_interval(unit):
    """The per-group shortcut draws exactly the resamples every other paired CI of the run draws."""
    from harness.statistics.outcomes import count
    from harness.statistics.posthoc_bar import compare
    from harness.statistics.scoring import paired_difference

    a, b = count(answers(200, 1, informative=True)[0]), count(answers(200, 1, informative=False)[0])
    settings = Settings(thresholds=thresholds_from(CONFIG), config=CONFIG, bootstrap=unit, seed=4)
    ours = compare(a, b, settings)["changes"]["brier"]
    theirs = paired_difference(a.confidence, a.correct, b.confidence, b.correct, ["brier"], CONFIG,
                               seed=4, groups=a.groups if unit == "group" else None)["brier"]
    assert ours["diff"] == pytest.approx(theirs["diff"]) and ours["ci"] == pytest.approx(theirs["ci"])


def test_log_loss_is_the_mean_negative_log_likelihood_clipped_away_from_0_and_1():
    assert log_loss(np.array([0.8, 0.4]), np.array([True, False])) == pytest.approx(
        -(np.log(0.8) + np.log(0.6)) / 2)
    assert np.isfinite(log_loss(np.array([0.0]), np.array([True])))


@pytest.mark.parametrize("seed", range(4))
def test_a_model_saying_the_training_accuracy_for_every_answer_never_beats_the_bar(seed):
    test, _ = answers(300, seed, informative=False)
    train, _ = answers(300, seed + 100, informative=False, prefix="t")
    rate = np.mean([o.grade == "correct" for o in train])
    assessed, _, _ = run({key("baseline"): test, key("collapsed"): with_confidence(test, [rate] * 300)},
                         {key("baseline"): train}, seed=seed)
    verdict = assessed["comparisons"][0]["beats_posthoc"]
    assert verdict["outcome"] == FAIL and not verdict["passed"]


@pytest.mark.parametrize("constant", [0.2, 0.35, 0.5, 0.65, 0.8])
def test_no_constant_confidence_beats_a_bar_of_informative_confidences(constant):
    test, _ = answers(300, 1, informative=True)
    train, _ = answers(300, 2, informative=True, prefix="t")
    assessed, _, _ = run({key("baseline"): test, key("collapsed"): with_confidence(test, [constant] * 300)},
                         {key("baseline"): train})
    verdict = assessed["comparisons"][0]["beats_posthoc"]
    assert verdict["outcome"] != PASS
    assert verdict["against"] != "baseline[logprob] + base_rate"  # the informative map was chosen


def test_the_bar_can_come_from_another_extractor():
    test, chance = answers(300, 3, informative=False)
    train, _ = answers(300, 4, informative=False, prefix="t")
    verbal_test, _ = answers(300, 3, informative=True)
    verbal_train, _ = answers(300, 4, informative=True, prefix="t")
    assessed, _, _ = run({key("baseline"): test, key("baseline", "verbalized"): verbal_test,
                          key("brier"): with_confidence(test, chance)},
                         {key("baseline"): train, key("baseline", "verbalized"): verbal_train})
    verdict = assessed["comparisons"][0]["beats_posthoc"]
    assert verdict["against"].startswith("baseline[verbalized] + ")
    assert [c["against"] for c in verdict["selection"]][0] == verdict["against"]


def test_the_bar_is_chosen_on_the_training_split_not_on_the_test_answers():
    """On the training split only ``logprob`` is informative; on the test split only ``verbalized``
    is. The bar is logprob's map, though verbalized's scores better on the test answers."""
    a_test, chance = answers(300, 5, informative=False)
    a_train, _ = answers(300, 6, informative=True, prefix="t")
    b_test, _ = answers(300, 5, informative=True)
    b_train, _ = answers(300, 6, informative=False, prefix="t")
    assessed, _, _ = run({key("baseline"): a_test, key("baseline", "verbalized"): b_test,
                          key("brier"): with_confidence(a_test, chance)},
                         {key("baseline"): a_train, key("baseline", "verbalized"): b_train})
    rows = {r["key"]: r for r in assessed["rows"]}
    verdict = assessed["comparisons"][0]["beats_posthoc"]
    assert verdict["against"].startswith("baseline[logprob] + ")
    chosen = rows[f"baseline__logprob__{verdict['against'].split(' + ')[1]}"]["metrics"]["brier"]["value"]
    assert rows["baseline__verbalized__isotonic"]["metrics"]["brier"]["value"] < chosen


def test_a_model_that_knows_each_answers_chance_beats_the_bar_and_reports_log_loss_beside():
    test, chance = answers(450, 7, informative=False)  # the untrained model's confidence says nothing
    train, _ = answers(450, 8, informative=False, prefix="t")
    assessed, _, _ = run({key("baseline"): test, key("oracle"): with_confidence(test, chance)},
                         {key("baseline"): train})
    verdict = assessed["comparisons"][0]["beats_posthoc"]
    assert verdict["outcome"] == PASS and verdict["passed"] and verdict["ci"][1] < 0
    assert set(verdict["changes"]) == {"brier", "log_loss", "debiased_calib_err"}  # the criteria's metric
    assert verdict["against"] in verdict["detail"] and "log_loss" in verdict["detail"]


def test_adds_to_posthoc_compares_every_trained_map_with_the_bar_and_with_its_own_calibrator():
    test, chance = answers(300, 9, informative=True)
    train, _ = answers(300, 10, informative=True, prefix="t")
    assessed, _, _ = run({key("baseline"): test, key("same"): list(test)}, {key("baseline"): train})
    comp = assessed["comparisons"][0]
    adds = comp["adds_to_posthoc"]
    assert adds["against"] == comp["beats_posthoc"]["against"]
    assert {p["calibrator"] for p in adds["per_calibrator"]} == {"temperature", "isotonic"}
    assert all("same_calibrator" in p for p in adds["per_calibrator"])
    # the untrained model's own answers, cross-fitted alike, add nothing: never a pass
    assert adds["outcome"] in (FAIL, INCONCLUSIVE) and adds["passed"] is False


def make_run(folder: Path, rows: dict[RowKey, list[Outcome]], fits: dict, trainer: str) -> Path:
    """A run folder as `harness run` writes it, with its post-hoc rows."""
    folder.mkdir(parents=True, exist_ok=True)
    report_rows = []
    for k, items in rows.items():
        write(folder / "outcomes" / f"{k.slug}.jsonl", items)
        row = {"label": k.label, "extractor": k.extractor, "calibrator": k.calibrator, "key": k.slug,
               "outcomes": f"outcomes/{k.slug}.jsonl", "metrics": {}, "counts": {}}
        if k in fits:
            row["calibrator_fit"] = fits[k]
        report_rows.append(row)
    test = sorted({o.example_id for items in rows.values() for o in items})
    split = {"train": [f"t{i}" for i in range(len(test))], "test": test}
    (folder / "split.json").write_text(json.dumps(split))
    report = {"schema": SCHEMA, "held_out": True, "seed": 0, "rows": report_rows,
              "comparisons": [{"trainer": trainer, "extractor": "logprob"}], "trainers": {trainer: "logprob"},
              "strategies": {"metrics": []},
              "counting": {"not_attempted": "incorrect", "missing_confidence": 1.0},
              "bootstrap": {"unit": "group", "requested": "group", "resamples": 1000, "seed": 0},
              "thresholds": {}, "posthoc": Scheme().to_dict()}
    (folder / "report.json").write_text(json.dumps(report))
    return folder


def test_check_reads_the_stored_calibrated_confidences_and_refits_nothing(tmp_path):
    test, chance = answers(300, 11, informative=True)
    train, _ = answers(300, 12, informative=True, prefix="t")
    rows, fits = posthoc_rows({key("baseline"): test, key("oracle"): with_confidence(test, chance)},
                              {key("baseline"): train}, ["isotonic"], CONFIG, Scheme())
    run_dir = make_run(tmp_path / "run", rows, fits, "oracle")
    _, text = check_run(run_dir)
    assert "beats_posthoc (reported): Brier" in text and "training beats the best post-hoc map" in text
    # make the stored bar perfect: a refitting check would not see it; this one must
    bar = key("baseline", calibrator="isotonic")
    perfect = [o.with_confidence(1.0 if o.grade == "correct" else 0.0) for o in rows[bar]]
    write(run_dir / "outcomes" / f"{bar.slug}.jsonl", perfect)
    _, text = check_run(run_dir)
    assert "the interval excludes any improvement" in text
