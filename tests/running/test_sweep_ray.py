"""`--executor ray`: task options checked by Ray, and on a local Ray with one logical GPU two cells
at half a GPU each run at once (their own recorded start and end times overlap) on that GPU."""

from __future__ import annotations

import pytest
from cluster_helpers import served_or_grader, served_spec
from fake_openai_server import FakeOpenAIServer

from harness.errors import ParameterError
from harness.running.sweep import run_sweep
from harness.running.sweep_executors import check_executor
from harness.running.sweep_plan import read_attempts

pytest.importorskip("ray", reason="the ray extra is not installed")


@pytest.mark.parametrize(("options", "message"), [
    (["num_gpu=0.5"], "-x num_gpu: not a Ray task option; valid: address, init.KEY, "),
    (["num_gpus=-1"], "-x: The quantity of resource num_gpus cannot be negative"),
    (["init.num_gpu=1"], "-x init.num_gpu: not an option of ray.init; valid: "),
])
def test_ray_options_are_checked_by_ray_before_anything_runs(options, message):
    with pytest.raises(ParameterError) as info:
        check_executor("ray", options)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_ray_tasks_end_with_their_driver_so_there_is_no_submit_only():
    with pytest.raises(ParameterError, match="--submit-only: Ray's tasks end with their driver"):
        check_executor("ray", ["num_gpus=0.5"], submit_only=True)


@pytest.mark.slow
def test_two_cells_at_half_a_gpu_share_one_gpu_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "sweep"
    with FakeOpenAIServer(responder=served_or_grader, latency=1.0) as server:  # each cell several seconds
        summary = run_sweep(served_spec(tmp_path, server), out, seeds=[0, 1], executor="ray",
                            executor_options=["init.num_cpus=2", "init.num_gpus=1", "num_gpus=0.5"])
    assert [c["status"] for c in summary["cells"]] == ["complete"] * 2
    spans = []
    for seed in (0, 1):
        attempts = {a["event"]: a for a in read_attempts(out / "cells" / f"seed{seed}")}
        assert attempts["start"]["scheduler"]["ray"]["attempt"] == 0  # the lock knows the Ray task
        assert attempts["start"]["cuda_visible_devices"] == "0"  # Ray gave each the one logical GPU
        spans.append((attempts["start"]["time"], attempts["end"]["time"]))
    (start_a, end_a), (start_b, end_b) = spans
    assert start_a < end_b and start_b < end_a, spans  # both ran at once: packed on the GPU
    overlap = min(end_a, end_b) - max(start_a, start_b)
    assert overlap > 0.5 * min(end_a - start_a, end_b - start_b), spans
