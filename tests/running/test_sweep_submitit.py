"""`--executor submitit`: -x options checked against what submitit accepts, a 3-cell sweep on
submitit's debug and local executors, and a cell stopped by its time limit that is requeued and
resumes its run folder (real submitit, cells served by a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cluster_helpers import served_or_grader, served_spec, wait_for_event
from fake_openai_server import FakeOpenAIServer

from harness.errors import ParameterError
from harness.running.sweep import run_sweep
from harness.running.sweep_executors import check_executor
from harness.running.sweep_plan import read_attempts
from harness.testing import run_harness

pytest.importorskip("submitit", reason="the slurm extra (submitit) is not installed")


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")  # the served model's and judge's (never on disk)
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.parametrize(("executor", "options", "message"), [
    ("submitit", ["timeout_min=soon"], "-x timeout_min=soon: expected int"),
    ("submitit", ["slurm_partitio=gpu"], "-x slurm_partitio: not a submitit parameter; valid: cluster, "),
    ("submitit", ["partition=gpu"], "-x partition: not a submitit parameter"),
    ("submitit", ["cluster=pbs"], "-x cluster=pbs: submitit knows debug, local, slurm"),
    ("submitit", ["timeout_min"], "-x 'timeout_min': expected key=value"),
    ("local", ["timeout_min=5"], "-x timeout_min: the local executor takes no -x options"),
])
def test_executor_options_are_checked_before_anything_runs(executor, options, message):
    with pytest.raises(ParameterError) as info:
        check_executor(executor, options)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_good_submitit_options_pass_as_submitit_reads_them():
    options = check_executor("submitit", ["timeout_min=240", "gpus_per_node=1", "slurm_partition=gpu",
                                          "local_signal_delay_s=20", "cluster=slurm", "mem_gb=7.5"])
    assert options == {"timeout_min": 240, "gpus_per_node": 1, "slurm_partition": "gpu",
                       "local_signal_delay_s": 20, "cluster": "slurm", "mem_gb": 7.5}


def test_submit_only_needs_a_scheduler_and_a_missing_extra_is_named(monkeypatch, tmp_path):
    with pytest.raises(ParameterError, match="--submit-only needs a scheduler: --executor submitit"):
        check_executor("local", [], submit_only=True)
    with pytest.raises(ParameterError, match=r"--submit-only needs Slurm \(here: submitit's local executor"):
        check_executor("submitit", ["cluster=local"], submit_only=True)
    assert check_executor("submitit", ["cluster=slurm"], submit_only=True) == {"cluster": "slurm"}
    monkeypatch.setitem(sys.modules, "submitit", None)  # as without the extra
    done = run_harness("sweep", "--out", str(tmp_path / "s"), "--executor", "submitit")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "--executor submitit needs submitit: pip install 'calibration-harness[slurm]'" in done.stderr
    assert not (tmp_path / "s").exists()


@pytest.mark.slow
@pytest.mark.parametrize("cluster", ["debug", "local"])
def test_a_three_cell_sweep_on_submitits_own_executors(tmp_path, cluster):
    with FakeOpenAIServer(responder=served_or_grader) as server:
        summary = run_sweep(served_spec(tmp_path, server), tmp_path / "sweep", seeds=[0, 1, 2], jobs=2,
                            executor="submitit", executor_options=[f"cluster={cluster}"])
    assert [c["status"] for c in summary["cells"]] == ["complete"] * 3 and summary["missing"] == []
    assert summary["rows"][0]["seeds"] == [0, 1, 2]
    assert summary["command"]["executor"] == "submitit"
    if cluster == "local":  # each cell a job of its own, logged under the sweep
        assert len(list((tmp_path / "sweep" / "submitit").glob("*_0_log.out"))) == 3


@pytest.mark.slow
def test_a_cell_stopped_by_its_time_limit_is_requeued_and_resumes_its_run_folder(tmp_path):
    """The local executor signals the cell 25 s into its 60 s limit (signal_delay_s=35) while the
    judge is still answering slowly; submitit checkpoints the cell, requeues it, and the next
    attempt reuses the answers and verdicts the first one kept and finishes."""
    out = tmp_path / "sweep"
    cell = out / "cells" / "seed0"
    judgments = cell / "baseline" / "verbalized" / "all" / "judgments.jsonl"
    with FakeOpenAIServer(responder=served_or_grader, latency=0.0) as server:
        spec = served_spec(tmp_path, server, questions=12)
        outcome: dict = {}

        def drive() -> None:
            try:
                outcome["summary"] = run_sweep(spec, out, seeds=[0], executor="submitit", executor_options=[
                    "cluster=local", "timeout_min=1", "local_signal_delay_s=35"])
            except Exception as exc:  # reported by the assertion below
                outcome["error"] = exc

        server.latency = 4.0  # 12 verdicts one at a time: 48 s, far past the signal at 25 s
        driver = threading.Thread(target=drive)
        driver.start()
        wait_for_event(cell, "checkpoint", timeout=120)
        server.latency = 0.0  # the requeued attempt runs at full speed
        kept_by_the_first = len(judgments.read_text().splitlines()) if judgments.is_file() else 0
        driver.join(timeout=180)
        verdicts_asked = sum("GOLD TARGET:" in FakeOpenAIServer.prompt_text(b) for b in server.bodies())
    assert not driver.is_alive() and "error" not in outcome, outcome
    assert outcome["summary"]["missing"] == []
    events = [a["event"] for a in read_attempts(cell)]
    assert events == ["start", "checkpoint", "start", "end"]
    manifest = json.loads((cell / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    judged = [json.loads(line) for line in judgments.read_text().splitlines()]
    assert sorted(j["example_id"] for j in judged) == [f"q{i:02d}" for i in range(12)]  # each once
    assert 1 <= kept_by_the_first < 12  # the first attempt kept some; the second reused them
    assert verdicts_asked <= 12 + 1  # at most the one in flight at the signal was asked again


def test_the_core_imports_neither_submitit_nor_ray_unless_asked(tmp_path):
    code = ("import sys; from harness import cli; from harness.running import sweep, sweep_executors;"
            " cli.cli.main(['sweep', '--out', sys.argv[1], '--plan'], standalone_mode=False);"
            " sys.exit(sorted({'ray', 'submitit'} & set(sys.modules)) or 0)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "s")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "s" / "plan.json").is_file()
