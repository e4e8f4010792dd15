"""`harness run` end to end on a tiny random model: the run folder, resume, the report,
`compare` and `check`. (The embedded default with real training is in test_embedded_default.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
from plugin_helpers import installed

from harness import hookimpl
from harness.machinery import registry
from harness.running.experiment import Experiment, ExperimentSpec, run_experiment
from harness.testing import run_harness

QUESTIONS = [(f"q{i}", f"What is the colour of item {i}?", c, f"item{i // 2}")
             for i, c in enumerate(["red", "blue", "green", "yellow", "black", "white"] * 6)]


@pytest.fixture()
def qa_file(tmp_path: Path) -> Path:
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps({"id": i, "question": q, "answer": a, "item": g}) + "\n"
                            for i, q, a, g in QUESTIONS))
    return path


def spec(tiny_lm_path: Path, qa_file: Path, out: Path, **kw) -> ExperimentSpec:  # type: ignore[no-untyped-def]
    return ExperimentSpec(task="jsonl", model=str(tiny_lm_path), out=out, progress=False,
                          overrides=(f"task.path={qa_file}", "task.group_field=item",
                                     "backend.max_new_tokens=4"), **kw)


def test_evaluate_only_writes_every_stage_and_the_report(tiny_lm_path, qa_file, tmp_path):
    out = tmp_path / "run"
    report = run_experiment(spec(tiny_lm_path, qa_file, out))
    assert report["split"] == {"train": 0, "test": len(QUESTIONS), "evaluated": "all"}
    assert report["held_out"] is True  # nothing was trained, so nothing leaked
    assert report["comparisons"] == []
    assert report["posthoc_note"] is None
    # the untrained model's post-hoc rows, cross-fitted on its own answers (no training split)
    assert [(r["label"], r["calibrator"]) for r in report["rows"]] == [
        ("baseline", None), ("baseline", "base_rate"), ("baseline", "temperature"), ("baseline", "isotonic")]
    assert report["posthoc"] == {"scheme": "crossfit", "selection_folds": 5, "seed": 0, "folds": 5,
                                 "training_split": False}
    assert not any("selection" in (r.get("calibrator_fit") or {}) for r in report["rows"])
    stage = out / "baseline" / "logprob" / "all"
    for name in ("generations.jsonl", "predictions.jsonl", "judgments.jsonl", "stage.json"):
        assert (stage / name).exists(), name
    assert len((stage / "judgments.jsonl").read_text().splitlines()) == len(QUESTIONS)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["config"]["backend"]["name"] == "hf"
    assert "torch" in manifest["packages"]
    assert manifest["judging"]["total"]["errors"] == 0
    assert "baseline/logprob/all" in manifest["judging"]["stages"]
    row = report["rows"][0]
    assert row["counts"]["examples"] == len(QUESTIONS)
    assert row["metrics"]["accuracy"]["value"] is not None
    assert (out / "report.md").read_text().startswith("# Calibration report")
    assert (out / report["diagrams"]["logprob"]).stat().st_size > 1000


class Shifted:
    """A third-party calibrator (the identity when ``shift`` is 0) that counts what it was fitted on."""

    def __init__(self, shift: float = 0.0) -> None:
        self.shift, self.seen = shift, 0

    def fit(self, confidence, correct) -> None:  # type: ignore[no-untyped-def]
        self.seen = len(confidence)

    def __call__(self, confidence):  # type: ignore[no-untyped-def]
        return (confidence + self.shift).clip(0, 1)

    def fitted(self) -> dict:
        return {"seen": self.seen}


class ShiftedPlugin:
    @hookimpl
    def register_calibrators(self, register):  # type: ignore[no-untyped-def]
        register("shifted", Shifted)


def half_right(stage: Path, replay: Path) -> Path:
    """A replay judge's verdicts for the answers of ``stage``: every other one correct."""
    answers = [json.loads(line) for line in (stage / "predictions.jsonl").read_text().splitlines()]
    replay.write_text("".join(json.dumps({"example_id": a["example_id"], "answer": a["answer"],
                                          "grade": "correct" if i % 2 else "incorrect"}) + "\n"
                              for i, a in enumerate(answers)))
    return replay


@pytest.mark.parametrize("calibration_size", [None, 0.5])
def test_an_evaluation_only_run_fits_a_plugin_calibrator_on_the_untrained_answers(
    tiny_lm_path, qa_file, tmp_path, calibration_size
):
    """A calibrator plugin can be seen without training a model: cross-fitted on the evaluated
    answers, or fitted on a calibration part of them (--calibration-size)."""
    out = tmp_path / "run"
    base = spec(tiny_lm_path, qa_file, out, calibrators=("shifted",))
    with installed(ShiftedPlugin(), "shifted-plugin"):
        run_experiment(attrs.evolve(base, calibrators=()))  # the answers to write verdicts for
        replay = half_right(out / "baseline" / "logprob" / "all", tmp_path / "verdicts.jsonl")
        report = run_experiment(attrs.evolve(base, calibration_size=calibration_size,
                                             overrides=base.overrides + (f"judge.replay={replay}",)))
    rows = {r["calibrator"]: r for r in report["rows"]}
    assert set(rows) == {None, "base_rate", "shifted"}
    fit = rows["shifted"]["calibrator_fit"]
    assert "error" not in fit and "selection" not in fit  # no training split: no bar is selected
    carved = len(json.loads((out / "split.json").read_text()).get("calibration", []))
    if calibration_size is None:
        assert report["posthoc"]["scheme"] == "crossfit" and carved == 0
        assert [f["seen"] for f in fit["per_fold"]] == [len(QUESTIONS) - f["scored"] for f in fit["per_fold"]]
    else:
        assert report["posthoc"]["scheme"] == "calibration" and 0 < carved < len(QUESTIONS)
        assert fit["seen"] == carved
    shifted, raw = rows["shifted"], rows[None]
    assert shifted["counts"]["examples"] == len(QUESTIONS) - carved == raw["counts"]["examples"]
    assert shifted["metrics"]["brier"]["value"] == pytest.approx(raw["metrics"]["brier"]["value"])  # identity
    assert report["posthoc"]["training_split"] is False
    text = (out / "report.md").read_text()
    assert "Evaluation only: each" in text and "baseline + shifted" in text


def test_a_rerun_reuses_finished_stages(tiny_lm_path, qa_file, tmp_path):
    out = tmp_path / "run"
    run_experiment(spec(tiny_lm_path, qa_file, out))
    generations = out / "baseline" / "logprob" / "all" / "generations.jsonl"
    before = generations.read_text()
    mtime = generations.stat().st_mtime_ns
    run_experiment(spec(tiny_lm_path, qa_file, out))
    assert generations.read_text() == before
    assert generations.stat().st_mtime_ns == mtime  # nothing regenerated


def test_a_changed_parameter_redoes_the_stage(tiny_lm_path, qa_file, tmp_path):
    out = tmp_path / "run"
    run_experiment(spec(tiny_lm_path, qa_file, out))
    base = spec(tiny_lm_path, qa_file, out)
    run_experiment(attrs.evolve(base, overrides=base.overrides + ("extractor.aggregation=min",)))
    inputs = json.loads((out / "baseline" / "logprob" / "all" / "stage.json").read_text())["inputs"]
    assert inputs["extractor_params"]["aggregation"] == "min"


def test_a_killed_generation_resumes_without_duplicates(tiny_lm_path, qa_file, tmp_path):
    out = tmp_path / "run"
    run_experiment(spec(tiny_lm_path, qa_file, out))
    generations = out / "baseline" / "logprob" / "all" / "generations.jsonl"
    lines = generations.read_text().splitlines(keepends=True)
    generations.write_text("".join(lines[:10]) + lines[10][:15])  # a crash mid-line
    (out / "baseline" / "logprob" / "all" / "judgments.jsonl").unlink()
    run_experiment(spec(tiny_lm_path, qa_file, out))
    ids = [json.loads(line)["example_id"] for line in generations.read_text().splitlines()]
    assert sorted(ids) == sorted(q[0] for q in QUESTIONS)


def test_another_judge_setting_rejudges_but_keeps_the_generations(tiny_lm_path, qa_file, tmp_path):
    out = tmp_path / "run"
    base = spec(tiny_lm_path, qa_file, out)
    run_experiment(base)
    stage = out / "baseline" / "logprob" / "all"
    generated = (stage / "generations.jsonl").stat().st_mtime_ns
    replay = tmp_path / "verdicts.jsonl"
    answers = {json.loads(line)["example_id"]: json.loads(line)["answer"]
               for line in (stage / "predictions.jsonl").read_text().splitlines()}
    replay.write_text("".join(json.dumps({"example_id": i, "answer": a, "grade": "correct"}) + "\n"
                              for i, a in answers.items()))
    report = run_experiment(attrs.evolve(base, overrides=base.overrides + (f"judge.replay={replay}",)))
    assert (stage / "generations.jsonl").stat().st_mtime_ns == generated
    assert report["rows"][0]["metrics"]["accuracy"]["value"] == 1.0  # the replayed verdicts
    judged = (stage / "judge.json").read_text()
    faster = run_experiment(attrs.evolve(base, overrides=base.overrides + (
        f"judge.replay={replay}", "judge.concurrency=4")))
    assert faster["rows"][0]["metrics"]["accuracy"]["value"] == 1.0
    assert (stage / "judge.json").read_text() == judged  # a runner setting is no new judge


@pytest.mark.slow
def test_training_run_reports_criteria_and_check_gates(tiny_lm_path, qa_file, tmp_path):
    out = tmp_path / "run"
    s = spec(tiny_lm_path, qa_file, out, trainers=("implicit",))
    report = run_experiment(attrs.evolve(s, overrides=s.overrides + (
        "trainer.epochs=1", "trainer.batch_size=4", "trainer.gradient_accumulation_steps=1")))
    split = json.loads((out / "split.json").read_text())
    groups = {q[0]: q[3] for q in QUESTIONS}
    assert not {groups[i] for i in split["train"]} & {groups[i] for i in split["test"]}
    comparison = report["comparisons"][0]
    assert comparison["trainer"] == "implicit" and comparison["paired_n"] > 0
    assert [v["name"] for v in comparison["criteria"]] == [
        "held_out", "sample_size", "calibration", "accuracy", "coverage", "discrimination", "not_collapsed"]
    assert comparison["passed"] == all(v["passed"] for v in comparison["criteria"])
    # 36 questions: far below the floor of 100 paired examples, so the run cannot pass
    assert not comparison["passed"]
    assert {r["calibrator"] for r in report["rows"]} == {None, "temperature", "isotonic", "base_rate"}
    assert json.loads((out / "manifest.json").read_text())["posthoc"]["scheme"] == "crossfit"
    env = {**os.environ}
    check = subprocess.run([sys.executable, "-m", "harness.cli", "check", str(out)],
                           capture_output=True, text=True, env=env)
    assert check.returncode == (0 if comparison["passed"] else 1), check.stderr
    assert "implicit" in check.stdout
    for verdict in comparison["criteria"]:  # the report and check: one function on the same files
        assert verdict["detail"] in check.stdout, verdict["name"]
    strict = subprocess.run([sys.executable, "-m", "harness.cli", "check", str(out),
                             "--min-reduction", "0.99"], capture_output=True, text=True, env=env)
    assert strict.returncode == 1
    compare = subprocess.run([sys.executable, "-m", "harness.cli", "compare", str(out)],
                             capture_output=True, text=True, env=env)
    assert compare.returncode == 0 and "implicit" in compare.stdout


@pytest.mark.slow
def test_a_training_killed_midway_keeps_its_folder_for_the_trainer_to_resume(tiny_lm_path, qa_file, tmp_path):
    """The stage's fingerprint is unchanged, so its folder is kept (the built-in trainers resume
    from their last checkpoint there: test_training_resume.py) and no step is logged twice."""
    out = tmp_path / "run"
    s = spec(tiny_lm_path, qa_file, out, trainers=("implicit",))
    s = attrs.evolve(s, overrides=s.overrides + ("trainer.epochs=1", "trainer.batch_size=4",
                                                 "trainer.gradient_accumulation_steps=1"))
    run_experiment(s)
    folder = out / "train" / "implicit"
    stage = (folder / "stage.json").read_text()
    (folder / "model.json").unlink()  # as if killed before the stage finished
    (folder / "left-by-the-killed-attempt").write_text("x")
    run_experiment(s)
    assert (folder / "model.json").exists()
    assert (folder / "left-by-the-killed-attempt").exists()
    assert (folder / "stage.json").read_text() == stage
    rows = [json.loads(line) for line in (folder / "train_log.jsonl").read_text().splitlines()]
    steps = [row["step"] for row in rows if "loss" in row]  # per-step rows (not the final summary)
    assert steps and len(steps) == len(set(steps)), "a step was logged twice"


@pytest.mark.slow
def test_eval_on_train_says_in_its_first_lines_that_it_is_not_held_out(tiny_lm_path, qa_file, tmp_path):
    out = tmp_path / "run"
    s = spec(tiny_lm_path, qa_file, out, trainers=("implicit",), eval_on_train=True)
    report = run_experiment(attrs.evolve(s, overrides=s.overrides + (
        "trainer.epochs=1", "trainer.batch_size=4", "trainer.gradient_accumulation_steps=1")))
    assert report["held_out"] is False
    assert report["split"]["train"] == report["split"]["test"] == len(QUESTIONS)
    first_lines = (out / "report.md").read_text().splitlines()[:3]
    assert any("NOT HELD-OUT" in line for line in first_lines)
    assert "--eval-on-train leaves no held-out questions" in report["posthoc_note"]
    # the CI gate fails it, whatever else the run shows, unless told otherwise
    check = subprocess.run([sys.executable, "-m", "harness.cli", "check", str(out), "--min-n", "1"],
                           capture_output=True, text=True)
    assert check.returncode == 1 and "FAIL held_out" in check.stdout
    allowed = subprocess.run([sys.executable, "-m", "harness.cli", "check", str(out), "--min-n", "1",
                              "--allow-not-held-out"], capture_output=True, text=True)
    assert "ok   held_out" in allowed.stdout


def test_an_api_key_in_the_environment_never_reaches_the_run_folder(tiny_lm_path, qa_file, tmp_path,
                                                                     monkeypatch):
    canary = "sk-canary-7f3a9c1e5b"
    monkeypatch.setenv("OPENAI_API_KEY", canary)
    monkeypatch.setenv("GEMINI_API_KEY", canary)
    out = tmp_path / "run"
    run_experiment(spec(tiny_lm_path, qa_file, out))
    for path in out.rglob("*"):
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), path


def test_check_on_a_folder_without_report_is_exit_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "harness.cli", "check", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1


class RecordingCalibrator:
    """A calibrator that remembers every confidence it was fitted on (and maps nothing)."""

    name = "recording"
    seen: list[list[float]] = []

    def fit(self, confidence, correct) -> None:  # type: ignore[no-untyped-def]
        RecordingCalibrator.seen.append([float(c) for c in confidence])

    def __call__(self, confidence):  # type: ignore[no-untyped-def]
        return confidence

    def fitted(self) -> dict:
        return {"n": len(RecordingCalibrator.seen[-1])}


class RecordingPlugin:
    @hookimpl
    def register_calibrators(self, register):  # type: ignore[no-untyped-def]
        register("recording", RecordingCalibrator)


@pytest.mark.slow
def test_no_map_is_fitted_on_the_answers_it_scores_nor_on_training_questions(tiny_lm_path, qa_file, tmp_path):
    """Cross-fitting: every map of ``baseline + c`` and ``implicit + c`` is fitted on held-out answers
    of other groups than those it scores; the trained model is never evaluated on (nor calibrated
    with) its training questions; the baseline's training answers only choose the bar."""
    out = tmp_path / "run"
    s = spec(tiny_lm_path, qa_file, out, trainers=("implicit",), calibrators=("recording", "isotonic"))
    RecordingCalibrator.seen.clear()
    with installed(RecordingPlugin(), name="recording-calibrator"):
        report = run_experiment(attrs.evolve(s, overrides=s.overrides + (
            "trainer.epochs=1", "trainer.batch_size=4", "trainer.gradient_accumulation_steps=1")))
    split = json.loads((out / "split.json").read_text())
    assert not (out / "trained" / "implicit" / "train").exists()
    rows = {(r["label"], r["calibrator"]): r for r in report["rows"]}
    assert set(rows) == {(label, c) for label in ("baseline", "implicit")
                         for c in (None, "recording", "isotonic")} | {("baseline", "base_rate")}
    for label in ("baseline", "implicit"):
        fit = rows[(label, "recording")]["calibrator_fit"]
        assert fit["scheme"] == "crossfit" and fit["folds"] >= 2
        for fold in fit["per_fold"]:  # fitted on the other folds of the held-out split, all of them
            assert fold["fitted_on"] + fold["scored"] == len(split["test"])
    # the recording maps: a cross-fitted fit per fold and model, and the bar's CV on the training split
    folds = rows[("baseline", "recording")]["calibrator_fit"]["folds"]
    selection = rows[("baseline", "recording")]["calibrator_fit"]["selection"]
    assert len(RecordingCalibrator.seen) == 2 * folds + selection["folds"]
    assert selection["n"] == len(split["train"])
    assert "selection" not in rows[("implicit", "recording")]["calibrator_fit"]
    assert rows[("baseline", "base_rate")]["calibrator_fit"]["fitted_on"] == len(split["train"])
    assert rows[("baseline", "recording")]["metrics"]["accuracy"]["value"] == \
        rows[("baseline", None)]["metrics"]["accuracy"]["value"]  # a post-hoc map changes no answer
    comparison = report["comparisons"][0]
    bar = comparison["beats_posthoc"]
    assert bar["against"] in {"baseline[logprob] + recording", "baseline[logprob] + base_rate",
                              "baseline[logprob] + isotonic"}
    assert bar["outcome"] in ("pass", "fail", "inconclusive") and bar["passed"] == (bar["outcome"] == "pass")
    both = {c for c in ("recording", "isotonic") if "error" not in rows[("implicit", c)]}
    assert {p["calibrator"] for p in comparison["adds_to_posthoc"]["per_calibrator"]} == both
    for row in rows.values():  # a calibrator that cannot be fitted (e.g. one class) is n/a with its reason
        assert ("error" in row) == (row["metrics"] == {})
        if "error" in row:
            assert "could not be fitted" in row["error"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["posthoc"]["scheme"] == "crossfit"
    assert not any("on train" in key for key in manifest["timings"])
    text = (out / "report.md").read_text()
    assert "beats_posthoc" in text and "implicit + recording" in text


@pytest.mark.slow
def test_a_calibration_split_fits_each_map_once_and_measures_on_the_rest(tiny_lm_path, qa_file, tmp_path):
    out = tmp_path / "run"
    s = spec(tiny_lm_path, qa_file, out, trainers=("implicit",), calibrators=("recording",),
             calibration_size=0.5)
    RecordingCalibrator.seen.clear()
    with installed(RecordingPlugin(), name="recording-calibrator"):
        report = run_experiment(attrs.evolve(s, overrides=s.overrides + (
            "trainer.epochs=1", "trainer.batch_size=4", "trainer.gradient_accumulation_steps=1")))
    split = json.loads((out / "split.json").read_text())
    calibration = set(split["calibration"])
    assert calibration and calibration < set(split["test"])
    groups = {q[0]: q[3] for q in QUESTIONS}
    rest = set(split["test"]) - calibration
    assert not {groups[i] for i in calibration} & {groups[i] for i in rest}
    for row in report["rows"]:  # every figure on the rest
        ids = {json.loads(line)["example_id"] for line in (out / row["outcomes"]).read_text().splitlines()}
        assert ids == rest, row["key"]
    fit = next(r for r in report["rows"] if r["key"] == "implicit__logprob__recording")["calibrator_fit"]
    assert fit["scheme"] == "calibration" and fit["fitted_on"] == len(calibration)
    assert report["posthoc"]["scheme"] == "calibration"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["posthoc"]["calibration_examples"] == len(calibration)


def test_seed_seeds_training_unless_the_user_sets_it(tiny_lm_path, qa_file, tmp_path):
    s = spec(tiny_lm_path, qa_file, tmp_path / "run", trainers=("implicit", "explicit"), seed=7)
    exp = Experiment(s)
    for name in ("implicit", "explicit"):
        assert registry.resolve_params("trainer", name, exp.config)["seed"] == 7
        assert exp.trainers[name].settings.seed == 7
    mine = Experiment(attrs.evolve(s, overrides=s.overrides + ("trainer.implicit.seed=3",)))
    assert mine.trainers["implicit"].settings.seed == 3 and mine.trainers["explicit"].settings.seed == 7


def test_an_unknown_calibrator_is_one_line_and_exit_2(tiny_lm_path, qa_file, tmp_path):
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--model", str(tiny_lm_path),
                             "--task", "jsonl", "-p", f"task.path={qa_file}", "--calibrator", "isotonik",
                             "--out", str(tmp_path / "run")], capture_output=True, text=True)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "isotonic" in result.stderr and "temperature" in result.stderr


@pytest.mark.parametrize("options", [
    ("--calibration-size", "0.3", "--calibrator", "none"),  # evaluating only, but nothing to fit
    ("--trainer", "implicit", "--calibration-size", "0.3", "--eval-on-train"),
    ("--trainer", "implicit", "--calibration-size", "0.3", "--calibrator", "none"),
    ("--trainer", "implicit", "--calibration-size", "1.5"),
])
def test_a_calibration_split_without_untrained_answers_or_calibrators_is_one_line_and_exit_2(
        tiny_lm_path, qa_file, tmp_path, options):
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--model", str(tiny_lm_path),
                             "--task", "jsonl", "-p", f"task.path={qa_file}", *options,
                             "--out", str(tmp_path / "run")], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "calibration-size" in result.stderr
    assert not (tmp_path / "run").exists()


def test_none_turns_the_calibrators_off():
    assert ExperimentSpec.from_cli(**_cli_options(calibrators=("none",))).calibrators == ()
    assert ExperimentSpec.from_cli(**_cli_options(calibrators=())).calibrators == ("temperature", "isotonic")


def _cli_options(**changes):  # type: ignore[no-untyped-def]
    options = dict(task="facts", model="tiny", backend="hf", extractor="logprob", judge="mock", trainers=(),
                   metrics=(), limit=None, seed=0, test_size=0.5, eval_on_train=False, out=None,
                   config_file=None, overrides=(), force=False, no_cache=False, calibrators=(),
                   bootstrap="group")
    return {**options, **changes}


class BrokenMetricPlugin:
    @hookimpl
    def register_metrics(self, register):  # type: ignore[no-untyped-def]
        def explodes(confidence, correct):  # type: ignore[no-untyped-def]
            raise ZeroDivisionError("a careless metric")

        register("explodes", explodes)


def test_a_failing_plugin_metric_is_na_with_a_warning_and_the_run_goes_on(tiny_lm_path, qa_file, tmp_path,
                                                                            capsys):
    with installed(BrokenMetricPlugin(), name="broken-metric"):
        report = run_experiment(spec(tiny_lm_path, qa_file, tmp_path / "run"))
    row = report["rows"][0]
    assert row["metrics"]["explodes"]["value"] is None and "explodes" in row["failed_metrics"]
    assert row["metrics"]["accuracy"]["value"] is not None
    assert "harness: warning:" in capsys.readouterr().err


class HalfMetric:
    @hookimpl
    def register_metrics(self, register):  # type: ignore[no-untyped-def]
        register("always_half", lambda confidence, correct: 0.5)


def test_a_plugin_metric_named_in_report_columns_reaches_the_terminal_and_compare(
    tiny_lm_path, qa_file, tmp_path, capsys
):
    out = tmp_path / "run"
    base = spec(tiny_lm_path, qa_file, out, calibrators=())
    with installed(HalfMetric(), "half-metric"):
        report = run_experiment(attrs.evolve(base, overrides=base.overrides + (
            'report.columns=["accuracy", "always_half"]',)))
        compared = run_harness("compare", str(out), "--metric", "always_half", "--metric", "brier")
    assert report["columns"] == ["accuracy", "always_half"]
    terminal = capsys.readouterr().out.splitlines()
    head = next(line for line in terminal if line.startswith("model"))
    assert head.split()[:-1] == ["model", "extractor", "n", "accuracy", "always_half"]  # then ans@alpha
    assert next(line for line in terminal if line.startswith("baseline")).split()[-2] == "0.500"
    assert compared.returncode == 0, compared.stderr
    table = compared.stdout.splitlines()
    assert table[0].startswith("| run | model | extractor | n | always_half | brier | not_attempted")
    assert "| 0.500 [" in table[2]
    unknown = run_harness("run", "--model", str(tiny_lm_path), "--task", "jsonl", "-p",
                          f"task.path={qa_file}", "-p", 'report.columns=["no_such_metric"]',
                          "--out", str(tmp_path / "x"))
    assert unknown.returncode == 2 and "no_such_metric" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1
