"""`harness run --task A --eval-task B`: train on A's training split, evaluate on B only.

Out-of-distribution evaluation: the baseline and the trained model answer B's questions,
the calibrators are fitted on A's training answers, and the report and `check` name both
tasks. A B that shares questions with A's training split is not held out.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from harness.errors import HarnessError, ParameterError
from harness.reporting.check import check_run
from harness.running.experiment import ExperimentSpec, run_experiment

COLOURS = ["red", "blue", "green", "yellow", "black", "white"]
A = [(f"a{i}", f"What is the colour of item {i}?", c, f"item{i // 2}") for i, c in enumerate(COLOURS * 6)]
B = [(f"b{i}", f"What is the colour of thing {i}?", c, f"thing{i // 2}") for i, c in enumerate(COLOURS * 3)]
TRAIN = ("trainer.epochs=1", "trainer.batch_size=4", "trainer.gradient_accumulation_steps=1")


def write(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    path.write_text("".join(json.dumps({"id": i, "question": q, "answer": a, "item": g}) + "\n"
                            for i, q, a, g in rows))
    return path


def spec(model: Path, task_file: Path, eval_file: Path | None, out: Path, **kw) -> ExperimentSpec:  # type: ignore[no-untyped-def]
    overrides = [f"task.path={task_file}", "task.group_field=item", "backend.max_new_tokens=4", *TRAIN]
    if eval_file is not None:
        overrides += [f"eval_task.path={eval_file}", "eval_task.group_field=item"]
    return ExperimentSpec(task="jsonl", eval_task="jsonl" if eval_file else None, model=str(model), out=out,
                          progress=False, trainers=("implicit",), overrides=tuple(overrides), **kw)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_trains_on_a_s_training_split_and_scores_b_only(tiny_lm_path: Path, tmp_path: Path):
    a, b = write(tmp_path / "a.jsonl", A), write(tmp_path / "b.jsonl", B)
    out = tmp_path / "run"
    report = run_experiment(spec(tiny_lm_path, a, b, out))
    split = json.loads((out / "split.json").read_text())
    assert split["train_task"] == "jsonl" and split["test"] == [i for i, *_ in B]
    assert split["train"] and set(split["train"]) < {i for i, *_ in A}
    answers = lines(out / "baseline" / "logprob" / "train" / "predictions.jsonl")
    trained_on = {r["example_id"] for r in answers}
    assert trained_on == set(split["train"])  # the training answers: A's training split only
    for stage in ("baseline/logprob/test", "trained/implicit/test"):
        assert [g["example_id"] for g in lines(out / stage / "predictions.jsonl")] == [i for i, *_ in B]
    assert report["eval_task"] == "jsonl" and report["held_out"] is True
    assert report["note"].startswith("Out of distribution: trained on task jsonl")
    assert report["strategies"]["eval_task"]["params"]["path"] == str(b)
    assert report["strategies"]["task"]["params"]["path"] == str(a)
    held_out = report["comparisons"][0]["criteria"][0]
    assert held_out["name"] == "held_out" and held_out["passed"]
    _, text = check_run(out)
    assert text.splitlines()[0] == "trained on task jsonl, evaluated on task jsonl"
    assert "ok   held_out" in text


@pytest.mark.slow
def test_an_evaluation_task_that_shares_training_questions_is_not_held_out(tiny_lm_path: Path,
                                                                          tmp_path: Path):
    a = write(tmp_path / "a.jsonl", A)
    same = [(f"x{i}", q, c, g) for i, q, c, g in A]  # new ids, the same questions
    again = write(tmp_path / "same.jsonl", same)
    out = tmp_path / "run"
    report = run_experiment(spec(tiny_lm_path, a, again, out))
    assert report["held_out"] is False and "NOT HELD-OUT" in report["note"]
    ok, text = check_run(out)
    assert not ok and "FAIL held_out" in text


def test_eval_task_parameters_without_an_eval_task_are_an_error(tiny_lm_path: Path, tmp_path: Path):
    a = write(tmp_path / "a.jsonl", A)
    bad = spec(tiny_lm_path, a, None, tmp_path / "run")
    bad = attrs.evolve(bad, overrides=bad.overrides + ("eval_task.path=x.jsonl",))
    with pytest.raises(ParameterError, match=r"-p eval_task.path=x.jsonl: there is no --eval-task"):
        run_experiment(bad)


def test_an_eval_task_needs_a_trainer(tiny_lm_path: Path, tmp_path: Path):
    a = write(tmp_path / "a.jsonl", A)
    no_training = spec(tiny_lm_path, a, a, tmp_path / "run")
    no_training = attrs.evolve(no_training, trainers=())
    with pytest.raises(ParameterError, match="--eval-task needs a --trainer"):
        run_experiment(no_training)


def test_an_eval_task_with_no_examples_is_one_line_exit_2(tiny_lm_path: Path, tmp_path: Path):
    a, empty = write(tmp_path / "a.jsonl", A), tmp_path / "empty.jsonl"
    empty.write_text("")
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--task", "jsonl", "--eval-task", "jsonl",
         "--model", str(tiny_lm_path), "--trainer", "implicit", "--out", str(tmp_path / "run"),
         "-p", f"task.path={a}", "-p", f"eval_task.path={empty}", "-p", "eval_task.group_field=item"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("harness: error: ") and len(result.stderr.strip().splitlines()) == 1
    assert "empty.jsonl" in result.stderr or "has no examples" in result.stderr
    assert not (tmp_path / "run" / "train").exists()  # nothing trained on a run that cannot be evaluated


def test_the_spec_from_the_command_line_carries_the_eval_task():
    options = dict(task="facts", eval_task="jsonl", model="tiny", backend="hf", extractor="logprob",
                   judge="mock", trainers=("implicit",), metrics=(), limit=None, seed=0, test_size=0.5,
                   eval_on_train=False, out=None, config_file=None, overrides=(), force=False,
                   no_cache=False, calibrators=(), bootstrap="group")
    spec_ = ExperimentSpec.from_cli(**options)
    assert spec_.eval_task == "jsonl"
    assert str(spec_.default_out()).startswith("runs/facts-on-jsonl-")
    assert issubclass(ParameterError, HarnessError)
