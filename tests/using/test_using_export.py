"""``harness export`` and ``harness predict`` on a real run of the embedded tiny model: the bundle holds
the run's own map and three disjoint sets of answers, predict gives the run's very confidences for
the run's questions, resumes where it was stopped, and every refusal is one line with exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from using_fixtures import calibrated, make_run

from harness.artifacts import read_jsonl
from harness.errors import InputError, ParameterError
from harness.statistics.risk_control import ThresholdChoice, choose_threshold
from harness.testing import run_harness
from harness.using.bundle import FORMAT, load_bundle
from harness.using.export import export_run
from harness.using.predict import predict

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def calibrated_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return calibrated(tmp_path_factory)


def rows_of(path: Path) -> list[dict]:
    return read_jsonl(path).rows


def split_of(run: Path) -> dict:
    return json.loads((run / "split.json").read_text())


def report_row(run: Path, key: str) -> dict:
    return next(r for r in json.loads((run / "report.json").read_text())["rows"] if r["key"] == key)


def test_an_untrained_row_ships_the_runs_own_map_and_three_sets_each_doing_one_job(calibrated_run, tmp_path):
    bundle = export_run(calibrated_run, "baseline + isotonic", tmp_path / "bundle", alpha=0.3)
    split = split_of(calibrated_run)
    sets = bundle["sets"]
    assert bundle["format"] == FORMAT and bundle["model"]["adapter"] is None
    assert sets["map"]["ids"] == sorted(split["calibration"])
    assert sets["threshold"]["ids"] == sorted(split["train"])  # answers the map never saw
    assert sets["measure"]["ids"] == sorted(set(split["test"]) - set(split["calibration"]))
    ids = [set(s["ids"]) for s in sets.values()]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    row = report_row(calibrated_run, "baseline__logprob__isotonic")
    fit = {k: v for k, v in row["calibrator_fit"].items() if k not in ("scheme", "fitted_on", "selection")}
    assert bundle["calibrator"]["fitted"] == fit  # the very map the report measured
    figures = sets["measure"]["figures"]
    assert figures["brier"] == pytest.approx(row["metrics"]["brier"]["value"], abs=1e-12)
    assert figures["coverage_ci"][0] <= figures["coverage"] <= figures["coverage_ci"][1]
    choice = ThresholdChoice.from_dict(bundle["threshold"])
    scores = sets["threshold"]["scores"]
    assert choice == choose_threshold(np.array(scores["confidence"]), np.array(scores["correct"]),
                                      np.array(scores["attempted"]), alpha=0.3, delta=0.1)
    assert bundle["backend"]["name"] == "hf" and "api_key" not in json.dumps(bundle)
    assert load_bundle(tmp_path / "bundle").calibrator == bundle["calibrator"]


@pytest.mark.parametrize("name", ["isotonic", "platt", "temperature", "histogram"])
def test_every_builtin_map_exports_as_the_report_shows_it(calibrated_run, tmp_path, name):
    bundle = export_run(calibrated_run, f"baseline + {name}", tmp_path / "bundle")
    fit = report_row(calibrated_run, f"baseline__logprob__{name}")["calibrator_fit"]
    assert bundle["calibrator"]["fitted"] == {k: v for k, v in fit.items()
                                              if k not in ("scheme", "fitted_on", "selection")}


def test_a_trained_row_splits_the_calibration_part_by_group_and_copies_the_adapter(calibrated_run, tmp_path):
    bundle = export_run(calibrated_run, "implicit + platt", tmp_path / "bundle")
    calibration = set(split_of(calibrated_run)["calibration"])
    fit, choose = set(bundle["sets"]["map"]["ids"]), set(bundle["sets"]["threshold"]["ids"])
    assert fit and choose and fit | choose == calibration and not fit & choose
    assert not {i.partition("/")[0] for i in fit} & {i.partition("/")[0] for i in choose}  # facts: by entity
    assert "not the report's map" in bundle["sets"]["map"]["from"]
    assert bundle["model"]["trained_by"] == "implicit" and bundle["model"]["adapter"] == "adapter"
    source = calibrated_run / "train" / "implicit" / "adapter"
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        assert (tmp_path / "bundle" / "adapter" / name).read_bytes() == (source / name).read_bytes()


def test_predict_gives_the_runs_own_confidences_for_the_runs_questions(calibrated_run, tmp_path):
    export_run(calibrated_run, "baseline + isotonic", tmp_path / "bundle", alpha=0.3)
    counts = predict(tmp_path / "bundle", calibrated_run / "examples.jsonl", tmp_path / "answers.jsonl")
    answers = {r["id"]: r for r in rows_of(tmp_path / "answers.jsonl")}
    raw = {r["example_id"]: r["confidence"]
           for r in rows_of(calibrated_run / "baseline/logprob/test/predictions.jsonl")}
    mapped = {r["example_id"]: r["confidence"]
              for r in rows_of(calibrated_run / "outcomes/baseline__logprob__isotonic.jsonl")}
    assert set(answers) == set(raw) and counts["questions"] == len(raw)
    assert all(answers[i]["raw_confidence"] == pytest.approx(raw[i], abs=1e-9) for i in raw)
    assert all(answers[i]["confidence"] == pytest.approx(mapped[i], abs=1e-9) for i in mapped)
    threshold = ThresholdChoice.from_dict(load_bundle(tmp_path / "bundle").threshold).threshold
    for answer in answers.values():
        below = threshold is None or answer["confidence"] < threshold
        assert answer["abstain"] == (below or not answer["answer"].strip())


def test_a_trained_bundle_answers_with_its_copied_adapter_as_the_trained_model_did(calibrated_run, tmp_path):
    export_run(calibrated_run, "implicit + platt", tmp_path / "bundle")
    shutil.rmtree(calibrated_run / "train" / "implicit" / "adapter")  # the bundle needs its own copy only
    try:
        predict(tmp_path / "bundle", calibrated_run / "examples.jsonl", tmp_path / "answers.jsonl")
    finally:
        shutil.copytree(tmp_path / "bundle" / "adapter", calibrated_run / "train" / "implicit" / "adapter")
    stage = calibrated_run / "trained" / "implicit" / "test"
    trained = {r["example_id"]: r for r in rows_of(stage / "predictions.jsonl")}
    for answer in rows_of(tmp_path / "answers.jsonl"):
        assert answer["answer"] == trained[answer["id"]]["answer"]
        assert answer["raw_confidence"] == pytest.approx(trained[answer["id"]]["confidence"], abs=1e-6)


def test_a_stopped_predict_resumes_and_ends_with_the_answers_of_an_unbroken_one(calibrated_run, tmp_path):
    export_run(calibrated_run, "baseline + platt", tmp_path / "bundle")
    questions = calibrated_run / "examples.jsonl"
    predict(tmp_path / "bundle", questions, tmp_path / "whole.jsonl")
    whole = (tmp_path / "whole.jsonl").read_text().splitlines()
    # a kill after 7 whole lines and half of the 8th
    (tmp_path / "cut.jsonl").write_text("\n".join(whole[:7]) + "\n" + whole[7][:25])
    counts = predict(tmp_path / "bundle", questions, tmp_path / "cut.jsonl", batch=5)
    assert counts["resumed"] == 7
    resumed = [json.loads(line) for line in (tmp_path / "cut.jsonl").read_text().splitlines()]
    unbroken = [json.loads(line) for line in whole]
    assert [r["id"] for r in resumed] == [r["id"] for r in unbroken]  # each once, none lost
    for a, b in zip(resumed, unbroken, strict=True):  # other batches pad alike up to float noise
        assert a["raw_confidence"] == pytest.approx(b["raw_confidence"], abs=1e-5)
        assert {k: v for k, v in a.items() if "confidence" not in k} == \
            {k: v for k, v in b.items() if "confidence" not in k}


def test_risk_chooses_the_threshold_again_and_one_file_never_mixes_two(calibrated_run, tmp_path):
    export_run(calibrated_run, "baseline + isotonic", tmp_path / "bundle")
    questions = tmp_path / "q.jsonl"
    questions.write_text("".join((calibrated_run / "examples.jsonl").read_text().splitlines(True)[:6]))
    counts = predict(tmp_path / "bundle", questions, tmp_path / "a.jsonl", alpha=0.45)
    scores = load_bundle(tmp_path / "bundle").threshold_scores()
    again = choose_threshold(np.array(scores["confidence"]), np.array(scores["correct"]),
                             np.array(scores["attempted"]), alpha=0.45, delta=0.1)
    assert counts["threshold"] == again
    assert {r["threshold"] for r in rows_of(tmp_path / "a.jsonl")} == {again.threshold}
    with pytest.raises(InputError, match="made otherwise .threshold"):
        predict(tmp_path / "bundle", questions, tmp_path / "a.jsonl", alpha=0.2)


def test_a_cross_fitted_run_has_no_single_map_to_export(calibrated_run, tmp_path):
    crossfit = tmp_path / "crossfit"
    shutil.copytree(calibrated_run, crossfit)  # the same stages, reported without a calibration split
    make_run(crossfit, tmp_path / "cache", calibration_size=None)
    result = run_harness("export", str(crossfit), "--row", "baseline + isotonic",
                         "--out", str(tmp_path / "b"), fresh_interpreter=True)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "cross-fitted" in result.stderr and "--calibration-size" in result.stderr
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("args, words", [
    (("--row", "baseline + nothing"), ["no row 'baseline + nothing'", "baseline + isotonic [logprob]"]),
    (("--row", "baseline + isotonic", "--extractor", "verbalized"), ["no extractor 'verbalized'", "logprob"]),
    (("--row", "baseline + base_rate"), ["no row", "implicit + platt [logprob]"]),
])
def test_an_unknown_row_or_extractor_is_one_line_listing_what_exists(calibrated_run, tmp_path, args, words):
    result = run_harness("export", str(calibrated_run), *args, "--out", str(tmp_path / "b"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert all(w in result.stderr for w in words), result.stderr


def test_export_never_writes_into_a_folder_that_holds_something(calibrated_run, tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "mine.txt").write_text("keep")
    result = run_harness("export", str(calibrated_run), "--row", "baseline + isotonic",
                         "--out", str(tmp_path / "b"))
    assert result.returncode == 2 and "not an empty folder" in result.stderr
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["mine.txt"]


def test_predict_of_a_folder_that_is_no_bundle_or_a_bad_questions_file_is_one_line(calibrated_run, tmp_path):
    export_run(calibrated_run, "baseline + isotonic", tmp_path / "bundle")
    (tmp_path / "bad.jsonl").write_text('{"question": "q", "answer": "a"}\n{oops\n'
                                        '{"question": "r", "answer": "b"}\n')
    for bundle, questions, words in [(tmp_path, tmp_path / "bad.jsonl", "bundle.json"),
                                     (tmp_path / "bundle", tmp_path / "bad.jsonl", "bad.jsonl:2")]:
        result = run_harness("predict", str(bundle), str(questions), "--out", str(tmp_path / "a.jsonl"),
                             fresh_interpreter=True)
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert words in result.stderr
    assert not (tmp_path / "a.jsonl").exists()


def test_a_bundle_of_another_version_is_refused_in_one_line(calibrated_run, tmp_path):
    export_run(calibrated_run, "baseline + isotonic", tmp_path / "bundle")
    path = tmp_path / "bundle" / "bundle.json"
    path.write_text(path.read_text().replace(FORMAT, "calibration-harness/bundle/v9"))
    with pytest.raises(InputError, match="version v9"):
        load_bundle(tmp_path / "bundle")


def test_predict_refuses_to_change_what_the_map_was_fitted_on_or_a_parameter_no_one_has(calibrated_run,
                                                                                        tmp_path):
    export_run(calibrated_run, "baseline + isotonic", tmp_path / "bundle")
    for option, words in [("extractor.aggregation=min", "extractor is fixed"),
                          ("calibrator.bins=3", "calibrator is fixed"),
                          ("backend.nonsense=1", "has no parameter 'nonsense'")]:
        with pytest.raises(ParameterError, match=words):
            predict(tmp_path / "bundle", calibrated_run / "examples.jsonl", tmp_path / "a.jsonl",
                    overrides=(option,))
    assert not (tmp_path / "a.jsonl").exists()
