"""A sweep on a real one-node Slurm (``slurm_cluster``): `--executor submitit --submit-only` submits
an array of 3 cells and exits, one cell is requeued mid-run with `scontrol requeue` and resumes
its run folder as restart 1 of the same array task, and `--collect` gathers all three.
Skipped, saying why, where the Slurm daemons are absent; `.ci/run` installs them and requires it."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from cluster_helpers import events, served_or_grader, served_spec, wait_for_event
from fake_openai_server import FakeOpenAIServer
from slurm_cluster import one_node_slurm, poll, squeue

from harness.running.sweep import run_sweep
from harness.testing import run_harness

pytest.importorskip("submitit", reason="the slurm extra (submitit) is not installed")


@pytest.fixture
def slurm(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    with one_node_slurm(tmp_path_factory.mktemp("slurm")) as env:
        monkeypatch.setenv("SLURM_CONF", env["SLURM_CONF"])  # sbatch, scontrol and the jobs read it
        yield env


@pytest.mark.slow
def test_an_array_of_three_cells_one_requeued_resumes_and_collect_gathers_all(slurm, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "sweep"
    cells = [out / "cells" / f"seed{s}" for s in range(3)]
    with FakeOpenAIServer(responder=served_or_grader, latency=1.5) as server:  # a cell lasts ~10 s
        submitted = time.monotonic()
        assert run_sweep(served_spec(tmp_path, server), out, seeds=[0, 1, 2], jobs=3, executor="submitit",
                         executor_options=["cluster=slurm", "timeout_min=10"], submit_only=True) is None
        first = wait_for_event(cells[0], "start", timeout=120)
        slurm_ids = first["scheduler"]["slurm"]
        assert slurm_ids["restart_count"] == 0 and slurm_ids["array_task_id"] == "0"
        requeue = subprocess.run(["scontrol", "requeue", f"{slurm_ids['array_job_id']}_0"],
                                 capture_output=True, text=True, env=slurm)
        assert requeue.returncode == 0, requeue.stderr
        # the slow judge until the requeued attempt starts: the first one cannot finish before
        # Slurm kills it (submitit lets the SIGTERM pass; the SIGKILL comes KillWait later)
        assert poll(lambda: len(events(cells[0], "start")) > 1, 120), f"no restart; squeue:\n{squeue(slurm)}"
        server.latency = 0.1

        def all_ended() -> bool:
            return all(events(c, "end") for c in cells)

        assert poll(all_ended, 300), f"not every cell ended within 300 s; squeue:\n{squeue(slurm)}"
    started = events(cells[0], "start")
    assert [a["scheduler"]["slurm"]["restart_count"] for a in started] == [0, 1]  # the same job, requeued
    assert {a["scheduler"]["slurm"]["array_job_id"] for a in started} == {slurm_ids["array_job_id"]}
    assert time.monotonic() - submitted < 400
    judged = [json.loads(line)["example_id"] for line in
              (cells[0] / "baseline" / "verbalized" / "all" / "judgments.jsonl").read_text().splitlines()]
    assert sorted(judged) == sorted(set(judged)) and len(judged) == 6  # resumed: each verdict once
    collected = run_harness("sweep", str(out), "--collect")
    assert collected.returncode == 0, collected.stderr
    assert "3 of 3 cells complete" in collected.stderr
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["missing"] == [] and summary["rows"][0]["seeds"] == [0, 1, 2]


def test_without_the_daemons_the_slurm_tests_skip_saying_why(monkeypatch):
    from slurm_cluster import missing_reason

    monkeypatch.setenv("PATH", "/nonexistent")
    reason = missing_reason()  # the client tools (sbatch…) are looked up on PATH only
    assert reason is not None and reason.endswith("(apt-get install slurmctld slurmd munge slurm-client)")
