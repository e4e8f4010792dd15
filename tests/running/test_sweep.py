"""`harness sweep`: the grid, its bad input, the summary across seeds, resume, and cells as processes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from view_fixtures import QUESTIONS, write_qa

from harness import cli
from harness.errors import ParameterError
from harness.reporting.sweep_summary import mean_ci, render_markdown, summarize
from harness.running.experiment import ExperimentSpec
from harness.running.sweep import (
    build_cells,
    cell_threads,
    cli_arguments,
    finished,
    parse_grid,
    parse_seeds,
    run_sweep,
    split_values,
)
from harness.running.sweep_plan import read_attempts


def test_seeds_are_a_range_a_list_or_both():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("0,3,7") == [0, 3, 7]
    assert parse_seeds("100-102,5,100") == [100, 101, 102, 5]


@pytest.mark.parametrize("text", ["5-3", "", "a-b", "1,,2"])
def test_an_empty_or_malformed_seed_range_is_an_error(text):
    with pytest.raises(ParameterError, match="--seeds"):
        parse_seeds(text)


def test_a_parameter_with_several_values_is_an_axis():
    assert split_values("4,8,16") == ["4", "8", "16"]
    assert split_values("[1, 2],'a,b'") == ["[1, 2]", "'a,b'"]
    fixed, axes = parse_grid(["trainer.implicit.lam=4,8,16", "backend.max_new_tokens=4"])
    assert fixed == ["backend.max_new_tokens=4"]
    assert axes == {"trainer.implicit.lam": ["4", "8", "16"]}
    with pytest.raises(ParameterError, match="empty value"):
        parse_grid(["trainer.implicit.lam=4,"])


def test_cells_cross_the_axes_with_the_seeds(tmp_path):
    base = ExperimentSpec(model="tiny-{seed}", trainers=("implicit",))
    cells = build_cells(base, tmp_path, [0, 1], ["logprob", "verbalized"], ["trainer.implicit.lam=4,8"])
    assert len(cells) == 8
    names = {c.name for c in cells}
    assert "extractor=logprob__trainer.implicit.lam=8__seed1" in names
    cell = next(c for c in cells if c.name == "extractor=verbalized__trainer.implicit.lam=4__seed1")
    assert cell.spec.model == "tiny-1" and cell.spec.seed == 1 and cell.spec.extractor == "verbalized"
    assert cell.spec.overrides == ("trainer.implicit.lam=4",)
    assert cell.spec.out == tmp_path / "cells" / cell.name
    args = cli_arguments(cell.spec)
    assert args[:2] == ["run", "--task"] and ["-p", "trainer.implicit.lam=4"] == args[args.index("-p"):][:2]


def test_each_cell_process_gets_its_share_of_the_allocated_cores_not_the_machines(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 64)  # the whole node: never the measure
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    assert (cell_threads(1), cell_threads(3), cell_threads(16)) == (8, 2, 1)
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "4")  # a Slurm job given 4 of the 8
    assert (cell_threads(1), cell_threads(2)) == (4, 2)


def test_an_eval_task_and_its_parameters_reach_every_cell(tmp_path):
    base = ExperimentSpec(trainers=("implicit",), eval_task="jsonl")
    cells = build_cells(base, tmp_path, [0], [], ["eval_task.path=a.jsonl,b.jsonl"])
    assert [c.spec.overrides for c in cells] == [("eval_task.path=a.jsonl",), ("eval_task.path=b.jsonl",)]
    assert cli_arguments(cells[0].spec)[1:7] == ["--task", "facts", "--eval-task", "jsonl", "--model", "tiny"]
    with pytest.raises(ParameterError, match="no parameter 'pth'"):
        build_cells(base, tmp_path, [0], [], ["eval_task.pth=a,b"])
    with pytest.raises(ParameterError, match="there is no --eval-task"):
        build_cells(ExperimentSpec(), tmp_path, [0], [], ["eval_task.path=a"])


def test_an_unknown_parameter_fails_before_any_cell(tmp_path):
    with pytest.raises(ParameterError, match="no parameter 'lamda'"):
        build_cells(ExperimentSpec(trainers=("implicit",)), tmp_path, [0], [], ["trainer.implicit.lamda=4,8"])


@pytest.mark.parametrize("args, message", [
    (["--seeds", "3-1"], "the range 3-1 is empty"),
    (["-p", "trainer.implicit.lamda=4,8", "--trainer", "implicit"], "no parameter 'lamda'"),
    (["-p", "nokind.x=1,2"], "unknown kind"),
    (["-p", "extractor.aggregation=min,mnn"], "aggregation must be one of"),
])
def test_bad_sweep_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["sweep", "--out", str(tmp_path / "s"), *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "s").exists()


def _report(rms: float, diff: float, outcome: str, beats: bool | None = False) -> dict:
    """A cell's report.json as an older version wrote it (``passed`` only) or as now (``outcome``)."""
    calibration = {"name": "calibration", "passed": outcome == "pass"}
    if outcome != "old":
        calibration["outcome"] = outcome
    return {"schema": "calibration-harness/report/v2",
            "rows": [{"label": "baseline", "calibrator": None, "extractor": "logprob",
                      "metrics": {"rms_calib_err": {"value": rms, "ci": [0, 1]},
                                  "accuracy": {"value": 0.5}}}],
            "comparisons": [{"trainer": "implicit", "extractor": "logprob",
                             "changes": {"rms_calib_err": {"diff": diff}},
                             "criteria": [calibration, {"name": "accuracy", "passed": True}],
                             "passed": outcome == "pass",
                             "beats_posthoc": {"passed": beats, "against": "baseline + isotonic"}}]}


def test_the_summary_counts_pass_fail_and_inconclusive_with_exact_intervals(tmp_path):
    cells = build_cells(ExperimentSpec(trainers=("implicit",)), tmp_path, [0, 1, 2, 3], [], [])
    values = [(0.2, -0.1, "pass"), (0.3, -0.05, "inconclusive"), (0.4, 0.02, "old")]
    for cell, (rms, diff, outcome) in zip(cells, values, strict=False):  # seed 3 never finished
        cell.spec.out.mkdir(parents=True)
        (cell.spec.out / "report.json").write_text(json.dumps(_report(rms, diff, outcome)))
    summary = summarize(cells, tmp_path, command={"task": "facts", "model": "tiny", "seeds": [0, 1, 2, 3]})
    rms = summary["rows"][0]["metrics"]["rms_calib_err"]
    assert rms["mean"] == pytest.approx(0.3) and rms["method"] == "log-scale t"
    assert 0 < rms["ci"][0] < 0.3 < rms["ci"][1]
    comp = summary["comparisons"][0]
    calibration = comp["criteria"]["calibration"]
    assert {k: calibration[k] for k in ("pass", "fail", "inconclusive", "n", "incomplete")} == {
        "pass": 1, "fail": 1, "inconclusive": 1, "n": 3, "incomplete": 1}  # the old cell's False is a fail
    assert calibration["ci"] == pytest.approx([1 - 0.975 ** (1 / 3), 0.9057007], abs=1e-6)  # exact, 1 of 3
    assert comp["passed"]["pass"] == 1 and comp["beats_posthoc"]["fail"] == 3
    assert comp["against"] == {"baseline + isotonic": 3}
    change = comp["changes"]["rms_calib_err"]
    assert change["method"] == "t"  # no outcome files in these cells: no replicates to resample
    text = render_markdown(summary)
    assert "| - | implicit | calibration | 1 pass, 1 fail, 1 inconclusive of 3 (+1 incomplete): " \
           "0.33 [0.01, 0.91] |" in text
    assert "beats_posthoc (bar: baseline + isotonic in 3)" in text
    assert "Clopper-Pearson" in text and "log scale" in text and "no trainer is named better" in text
    assert mean_ci([1.0]) == {"mean": 1.0, "ci": None, "values": [1.0]}
    assert mean_ci([0.0, 0.3])["ci"][0] > 0 and mean_ci([-0.1, 0.3])["method"] == "t"
    old = {**summary, "comparisons": [{**comp, "criteria": {"calibration": {"passed": 2, "n": 3}}}]}
    assert "| calibration | 2/3 |" in render_markdown(old)  # a v1 summary still renders


def _seeded_cell(cell, trainers: dict[str, float]) -> None:
    """A finished cell whose report comes from the real assessment of outcome files written here:
    the baseline's confidences are noisy, each trainer's ``noise`` sets how well calibrated it is."""
    from harness.machinery.config import Config
    from harness.statistics import outcomes as outcome_files
    from harness.statistics.assessment import RowKey, Settings, assess
    from harness.statistics.criteria import thresholds_from

    rng = np.random.default_rng(cell.seed)
    truth = rng.uniform(0.1, 0.9, 300)
    correct = rng.uniform(size=300) < truth

    def outcomes(noise: float) -> list:
        conf = np.clip(truth + rng.normal(0, noise, 300), 0, 1)
        return [outcome_files.Outcome(example_id=f"q{i:03d}", grade="correct" if c else "incorrect",
                                      confidence=float(p), group=f"g{i // 3}")
                for i, (p, c) in enumerate(zip(conf, correct, strict=True))]

    rows = {RowKey(label="baseline", extractor="logprob"): outcomes(0.35)}
    rows.update({RowKey(label=t, extractor="logprob"): outcomes(noise) for t, noise in trainers.items()})
    settings = Settings(thresholds=thresholds_from(None, {"metric": "rms_calib_err"}), config=Config.load(),
                        resamples=200, seed=cell.seed, metric_names=["rms_calib_err", "brier", "accuracy"])
    assessed = assess(rows, dict.fromkeys(trainers, "logprob"), settings, held_out=True)
    out = cell.spec.out
    for key, row in zip(rows, assessed["rows"], strict=True):
        outcome_files.write(out / f"{key.slug}.outcomes.jsonl", rows[key])
        row["outcomes"] = f"{key.slug}.outcomes.jsonl"
    (out / "report.json").write_text(json.dumps({
        "schema": "calibration-harness/report/v2", "rows": assessed["rows"],
        "comparisons": assessed["comparisons"], "bootstrap": assessed["bootstrap"],
        "counting": {"not_attempted": "incorrect", "missing_confidence": 1.0},
        "thresholds": settings.thresholds,
        "strategies": {"metrics": []}}))


def test_changes_get_a_two_level_interval_and_trainers_a_paired_test(tmp_path):
    seeds = list(range(6))
    cells = build_cells(ExperimentSpec(trainers=("implicit", "brier")), tmp_path, seeds, [], [])
    for cell in cells:
        cell.spec.out.mkdir(parents=True)
        _seeded_cell(cell, {"implicit": 0.3, "brier": 0.02})
    summary = summarize(cells, tmp_path, command={"task": "facts", "model": "tiny", "seeds": seeds,
                                                  "trainers": ["implicit", "brier"], "calibrators": []})
    comps = {c["trainer"]: c for c in summary["comparisons"]}
    change = comps["brier"]["changes"]["rms_calib_err"]
    assert change["method"] == "seeds x bootstrap" and change["ci"][1] < 0
    # the second level is each run's own bootstrap: its percentile interval is the run's CI
    from harness.reporting.sweep_summary import load_report
    from harness.statistics.seed_replicates import change_replicates

    folder = cells[0].spec.out
    report = load_report(folder)
    reps = change_replicates(folder, report, "brier", "logprob", ["rms_calib_err"])["rms_calib_err"]
    comp = next(c for c in report["comparisons"] if c["trainer"] == "brier")
    stored = comp["changes"]["rms_calib_err"]["ci"]
    assert [np.percentile(reps, 2.5), np.percentile(reps, 97.5)] == pytest.approx(stored)
    [test] = summary["tests"]
    assert test["exact"] and test["patterns"] == 64 and test["seeds"] == seeds
    assert test["p"] == pytest.approx(2 / 64) and test["p_holm"] == pytest.approx(2 / 64)
    assert test["better"] == "brier (logprob)"
    text = render_markdown(summary)
    assert "sign-flip permutation test (exact over all 64 sign patterns) p = 0.0312, " \
           "Holm-adjusted p = 0.0312: brier (logprob) is better" in text
    from harness.reporting.view import render

    page = render([], [{"name": str(tmp_path), "summary": summary, "links": {}}], "sweep")
    assert "brier (logprob) is better" in page and "6 pass, 0 fail, 0 inconclusive of 6" in page
    assert "Clopper-Pearson" in page and "two-level" in page


def _spec(tiny_lm_path: Path, qa: Path) -> ExperimentSpec:
    return ExperimentSpec(task="jsonl", model=str(tiny_lm_path), progress=False, calibrators=(),
                          overrides=(f"task.path={qa}", "task.group_field=item", "backend.max_new_tokens=4"))


def test_an_evaluation_sweep_writes_cells_and_tables_and_resumes(tiny_lm_path, tmp_path):
    qa = write_qa(tmp_path / "qa.jsonl")
    out = tmp_path / "sweep"
    summary = run_sweep(_spec(tiny_lm_path, qa), out, seeds=[0, 1], extractors=["logprob"],
                        overrides=["extractor.aggregation=mean_prob,min"])
    assert [c["status"] for c in summary["cells"]] == ["complete"] * 4
    assert {r["axes"]["extractor.aggregation"] for r in summary["rows"]} == {"mean_prob", "min"}
    assert all(r["seeds"] == [0, 1] for r in summary["rows"])
    accuracy = summary["rows"][0]["metrics"]["accuracy"]
    assert len(accuracy["values"]) == 2 and accuracy["ci"] is not None
    cell = out / "cells" / "extractor.aggregation=min__seed1"
    assert json.loads((cell / "manifest.json").read_text())["spec"]["seed"] == 1
    assert len((cell / "examples.jsonl").read_text().splitlines()) == len(QUESTIONS)
    assert (out / "sweep.md").read_text().startswith("# Sweep: jsonl")
    stamp = (cell / "report.json").stat().st_mtime_ns
    again = run_sweep(_spec(tiny_lm_path, qa), out, seeds=[0, 1], extractors=["logprob"],
                      overrides=["extractor.aggregation=mean_prob,min"])
    assert (cell / "report.json").stat().st_mtime_ns == stamp  # a finished cell is not rerun
    assert again["rows"] == summary["rows"]
    # a cell killed before its report: rerun, reusing its finished stages
    generations = cell / "baseline" / "logprob" / "all" / "generations.jsonl"
    generated = generations.stat().st_mtime_ns
    (cell / "report.json").unlink()
    run_sweep(_spec(tiny_lm_path, qa), out, seeds=[0, 1], extractors=["logprob"],
              overrides=["extractor.aggregation=mean_prob,min"])
    assert (cell / "report.json").is_file() and generations.stat().st_mtime_ns == generated
    manifest = json.loads((cell / "manifest.json").read_text())
    del manifest["spec"]["eval_task"]  # made by a version without the field: still finished
    (cell / "manifest.json").write_text(json.dumps(manifest))
    assert finished(next(c for c in build_cells(_spec(tiny_lm_path, qa), out, [1], ["logprob"],
                                                ["extractor.aggregation=mean_prob,min"])
                         if c.name == cell.name))


@pytest.mark.slow
def test_jobs_run_cells_as_separate_processes_each_with_its_own_gpus(tiny_lm_path, tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6,7")  # the GPUs this sweep was given
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1}, raising=False)
    qa = write_qa(tmp_path / "qa.jsonl")
    out = tmp_path / "sweep"
    summary = run_sweep(_spec(tiny_lm_path, qa), out, seeds=[0, 1], jobs=2)
    assert [c["status"] for c in summary["cells"]] == ["complete"] * 2
    manifest = json.loads((out / "cells" / "seed0" / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert (out / "cells" / "seed0" / "sweep-cell.log").is_file()
    given = [read_attempts(out / "cells" / f"seed{s}")[0] for s in (0, 1)]
    assert sorted(a["cuda_visible_devices"] for a in given) == ["4,5", "6,7"]  # never shared
    assert [a["omp_num_threads"] for a in given] == ["1", "1"]  # 2 allocated CPUs over 2 cells


def test_a_sweep_folder_summarized_by_the_previous_version_still_renders(tmp_path):
    from harness.reporting.sweep_summary import load_sweep
    from harness.reporting.view import render

    v1 = {"schema": "calibration-harness/sweep/v1", "axes": [], "cells": [],
          "command": {"task": "facts", "model": "tiny", "seeds": [0, 1], "trainers": ["implicit"],
                      "calibrators": []},
          "rows": [], "comparisons": [{"axes": {}, "trainer": "implicit", "extractor": "logprob",
                                       "seeds": [0, 1], "changes": {},
                                       "criteria": {"calibration": {"passed": 1, "n": 2, "rate": 0.5}},
                                       "passed": {"passed": 1, "n": 2, "rate": 0.5}}]}
    (tmp_path / "sweep.json").write_text(json.dumps(v1))
    summary = load_sweep(tmp_path)
    assert summary == v1
    page = render([], [{"name": str(tmp_path), "summary": summary, "links": {}}], "old sweep")
    assert "<td>calibration</td><td>1/2</td>" in page
    assert load_sweep(tmp_path / "nowhere") is None


def test_a_failing_cell_is_said_at_once_and_the_others_still_run(tmp_path, monkeypatch, capsys):
    """A cell that raises is named the moment it fails (not when the last cell is done), every other
    cell still runs, the summary is written from what finished, and the sweep then fails in one line
    naming the cell."""
    import harness.running.sweep_plan as sweep_plan

    ran = []

    def run_planned(cell, index):
        if cell.spec.seed == 0:
            raise RuntimeError("out of memory\ntraceback lines")
        ran.append(cell.spec.seed)

    monkeypatch.setattr(sweep_plan, "run_planned", run_planned)
    base = ExperimentSpec(model="tiny-{seed}")
    with pytest.raises(Exception, match=r"1 of 3 cells failed \(seed0: RuntimeError: out of memory\)"):
        run_sweep(base, tmp_path, seeds=[0, 1, 2])
    assert ran == [1, 2]
    err = capsys.readouterr().err
    said = err.index("cell 1/3 FAILED, the others go on: seed0: RuntimeError: out of memory")
    assert said < err.index("cell 2/3 seed1: running") and "traceback lines" not in err
    assert (tmp_path / "sweep.json").is_file()


def test_a_finished_cell_stays_finished_when_its_sweep_folder_moves(tmp_path):
    """A sweep folder copied to another place (a cluster's scratch, runs kept and put back) holds the
    same finished runs: the folder a cell was made in is not part of what it computed."""
    base = ExperimentSpec(model="tiny-{seed}", trainers=("implicit",))
    made, moved = (build_cells(base, tmp_path / where, [3], [], [])[0] for where in ("a", "b"))
    moved.spec.out.mkdir(parents=True)
    (moved.spec.out / "report.json").write_text("{}")
    manifest = {"status": "complete", "spec": json.loads(json.dumps(made.spec.to_dict()))}
    (moved.spec.out / "manifest.json").write_text(json.dumps(manifest))
    assert manifest["spec"]["out"] != str(moved.spec.out) and finished(moved)
    manifest["spec"]["seed"] = 4  # anything it computes still decides
    (moved.spec.out / "manifest.json").write_text(json.dumps(manifest))
    assert not finished(moved)
