"""The contract any scheduler drives: `harness sweep … --plan` writes plan.json, `harness sweep
FOLDER --cell K` runs one cell (an array index), `--collect` gathers what is complete and names
what is missing; bad input to any of them is one line and exit 2."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import attrs
import pytest
from view_fixtures import write_qa

from harness.running.experiment import ExperimentSpec
from harness.running.sweep import build_cells
from harness.running.sweep_plan import PLAN_SCHEMA, read_attempts, read_plan, write_plan
from harness.testing import run_harness


def grid_args(tiny_lm_path: Path, qa: Path, out: Path) -> list[str]:
    return ["sweep", "--task", "jsonl", "--model", str(tiny_lm_path), "--out", str(out), "--seeds", "0,1",
            "--calibrator", "none", "-p", f"task.path={qa}", "-p", "task.group_field=item",
            "-p", "backend.max_new_tokens=4", "-p", "extractor.aggregation=mean_prob,min"]


def test_a_plan_round_trips_every_cells_spec_with_its_folder_relative_to_the_sweep(tmp_path):
    config = tmp_path / "my.toml"
    config.write_text("")
    base = ExperimentSpec(model="tiny-{seed}", trainers=("implicit",), limit=6, config_file=config)
    first = tmp_path / "sweep"
    cells = build_cells(base, first, [0, 1], ["logprob", "verbalized"], ["trainer.implicit.lam=4,8"])
    write_plan(first, cells, {"seeds": [0, 1]})
    data = json.loads((first / "plan.json").read_text())
    assert data["schema"] == PLAN_SCHEMA and data["command"] == {"seeds": [0, 1]}
    assert [e["index"] for e in data["cells"]] == list(range(8))
    assert data["cells"][3]["folder"] == f"cells/{cells[3].name}"
    moved = first.rename(tmp_path / "mounted-elsewhere")  # as a pod sees a shared volume
    plan = read_plan(moved)
    assert [c.spec.out for c in plan.cells] == [moved / "cells" / c.name for c in cells]
    assert [attrs.evolve(c.spec, out=None) for c in plan.cells] == [  # tuples and paths restored
        attrs.evolve(c.spec, out=None) for c in cells]
    assert [(c.name, c.seed, c.axes) for c in plan.cells] == [(c.name, c.seed, c.axes) for c in cells]


@pytest.mark.slow
def test_plan_then_cells_by_index_then_collect(tiny_lm_path, tmp_path):
    qa = write_qa(tmp_path / "qa.jsonl")
    out = tmp_path / "sweep"
    planned = run_harness(*grid_args(tiny_lm_path, qa, out), "--plan")
    assert planned.returncode == 0, planned.stderr
    assert "4 cells planned" in planned.stderr and not (out / "cells").exists()  # nothing ran
    ran = run_harness("sweep", str(out), "--cell", "2")
    assert ran.returncode == 0, ran.stderr
    cell = out / "cells" / "extractor.aggregation=min__seed0"
    assert json.loads((cell / "manifest.json").read_text())["status"] == "complete"
    assert [a["event"] for a in read_attempts(cell)] == ["start", "end"]
    collected = run_harness("sweep", str(out), "--collect")
    assert collected.returncode == 0, collected.stderr
    assert "1 of 4 cells complete" in collected.stderr
    assert "missing: extractor.aggregation=mean_prob__seed0, extractor.aggregation=mean_prob__seed1, " \
           "extractor.aggregation=min__seed1" in collected.stderr
    summary = json.loads((out / "sweep.json").read_text())
    assert [c["status"] for c in summary["cells"]].count("complete") == 1 and len(summary["missing"]) == 3
    again = run_harness("sweep", str(out), "--cell", "2")  # a finished cell is not rerun
    assert "already finished" in again.stderr and len(read_attempts(cell)) == 2
    for index in (0, 1, 3):
        assert run_harness("sweep", str(out), "--cell", str(index)).returncode == 0
    run_harness("sweep", str(out), "--collect")
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["missing"] == [] and {r["axes"]["extractor.aggregation"] for r in summary["rows"]} == {
        "mean_prob", "min"}
    assert all(r["seeds"] == [0, 1] for r in summary["rows"])


def test_force_is_one_launchs_and_never_reaches_a_scheduler(tmp_path):
    forced = ExperimentSpec(force=True)
    cells = build_cells(forced, tmp_path, [0], [], [])
    write_plan(tmp_path, cells, {})
    assert read_plan(tmp_path).cells[0].spec.force is False  # a requeued attempt resumes, never restarts
    from harness.errors import ParameterError
    from harness.running.sweep import run_sweep

    with pytest.raises(ParameterError, match="--force with --executor ray: a requeued cell would start over"):
        run_sweep(forced, tmp_path / "s", seeds=[0], executor="ray")


@pytest.mark.parametrize(("args", "message"), [
    (["--cell", "7"], "--cell 7: the plan of {out} has cells 0 to 1"),
    (["--cell", "0", "--collect"], "--cell and --collect: one at a time"),
    (["--seeds", "0"], "{out}: a sweep folder is given with --cell K or --collect"),
])
def test_bad_cell_or_collect_input_is_one_line_and_exit_2(tmp_path, args, message):
    out = tmp_path / "sweep"
    assert run_harness("sweep", "--out", str(out), "--seeds", "0,1", "--plan").returncode == 0
    done = run_harness("sweep", str(out), *args)
    assert done.returncode == 2
    assert message.format(out=out) in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr


def test_a_folder_without_a_plan_or_with_a_foreign_one_is_one_line(tmp_path):
    done = run_harness("sweep", str(tmp_path), "--collect", fresh_interpreter=True)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert f"{tmp_path}: no plan.json (write one with harness sweep … --out {tmp_path} --plan)" in done.stderr
    (tmp_path / "plan.json").write_text(json.dumps({"schema": "calibration-harness/sweep-plan/v9"}))
    done = run_harness("sweep", str(tmp_path), "--cell", "0")
    assert done.returncode == 2 and "plan schema 'calibration-harness/sweep-plan/v9'" in done.stderr
    done = run_harness("sweep", "--cell", "0")
    assert done.returncode == 2 and "--cell needs the sweep folder" in done.stderr


@pytest.mark.slow
def test_the_kubernetes_indexed_job_runs_the_cell_of_its_index(tmp_path, monkeypatch):
    """The container command of docs/kubernetes-indexed-job.yaml, run as the pod of index 1 would."""
    yaml = pytest.importorskip("yaml")
    from cluster_helpers import served_or_grader, served_spec
    from fake_openai_server import FakeOpenAIServer

    from harness.running.sweep import run_sweep

    job = yaml.safe_load((Path(__file__).parents[2] / "docs" / "kubernetes-indexed-job.yaml").read_text())
    assert job["spec"]["completionMode"] == "Indexed"
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    out = tmp_path / "runs" / "big"
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    with FakeOpenAIServer(responder=served_or_grader) as server:
        run_sweep(served_spec(tmp_path, server), out, seeds=[0, 1], plan_only=True)
        pod = [part.replace("/runs/big", str(out)) for part in command]
        done = subprocess.run(pod, env={**os.environ, "JOB_COMPLETION_INDEX": "1"}, capture_output=True,
                              text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "cells" / "seed1" / "manifest.json").read_text())["status"] == "complete"
    assert not (out / "cells" / "seed0").exists()  # index 1 ran cell 1 only
