"""The Python API for notebooks and scripts (``harness.api``, re-exported by ``import harness``):
run an experiment or a sweep with keyword fields, load a finished run's report and outcomes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from view_fixtures import write_qa

import harness
from harness.api import _spec
from harness.reporting.run_folder import SCHEMA


def test_keyword_fields_become_a_spec_as_the_command_line_would_build_it():
    fields = {"task": "jsonl", "out": "runs/x", "trainers": ["implicit"], "overrides": "task.path=a"}
    spec = _spec(None, fields)
    assert spec.task == "jsonl" and spec.out == Path("runs/x")
    assert spec.trainers == ("implicit",) and spec.overrides == ("task.path=a",)
    base = harness.ExperimentSpec(seed=3, limit=10)
    assert _spec(base, {"limit": 20}) == harness.ExperimentSpec(seed=3, limit=20)


def test_an_unknown_field_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="trainer"):
        _spec(None, {"trainer": "implicit"})


def test_loading_a_folder_without_a_report_is_one_input_error(tmp_path: Path):
    with pytest.raises(harness.InputError, match="no report.json"):
        harness.load_run(tmp_path)
    with pytest.raises(harness.InputError, match="no such run folder"):
        harness.load_run(tmp_path / "absent")


def test_a_run_loads_with_each_row_s_outcomes(tmp_path: Path):
    outcomes = [harness.Outcome(example_id="a", grade="correct", confidence=0.9, group="g"),
                harness.Outcome(example_id="b", grade="incorrect", confidence=None)]
    (tmp_path / "outcomes").mkdir()
    (tmp_path / "outcomes" / "baseline-logprob.jsonl").write_text(
        "".join(json.dumps(o.to_dict()) + "\n" for o in outcomes))
    rows = [{"key": "baseline-logprob", "outcomes": "outcomes/baseline-logprob.jsonl"},
            {"key": "implicit-logprob", "error": "training failed"}]  # a failed row has no file
    (tmp_path / "report.json").write_text(json.dumps({"schema": SCHEMA, "rows": rows}))
    run = harness.load_run(tmp_path)
    assert run.folder == tmp_path and run.rows() == rows
    assert run.outcomes == {"baseline-logprob": outcomes}


def test_a_notebook_runs_an_experiment_and_reads_it_back(tiny_lm_path: Path, tmp_path: Path):
    qa = write_qa(tmp_path / "qa.jsonl")
    report = harness.run_experiment(task="jsonl", model=str(tiny_lm_path), out=tmp_path / "run",
                                    progress=False, overrides=[f"task.path={qa}", "task.group_field=item",
                                                               "backend.max_new_tokens=4"])
    run = harness.load_run(tmp_path / "run")
    assert run.report == json.loads(json.dumps(report))  # what was returned is what was written
    row = run.rows()[0]
    assert len(run.outcomes[row["key"]]) == row["counts"]["examples"] > 0


def test_a_notebook_runs_a_sweep(tiny_lm_path: Path, tmp_path: Path):
    qa = write_qa(tmp_path / "qa.jsonl")
    summary = harness.run_sweep(tmp_path / "sweep", seeds=[0, 1], task="jsonl", model=str(tiny_lm_path),
                                progress=False, overrides=[f"task.path={qa}", "task.group_field=item",
                                                           "backend.max_new_tokens=4"])
    written = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert written["schema"] == summary["schema"]
    assert len(list((tmp_path / "sweep").glob("cells/*/report.json"))) == 2
