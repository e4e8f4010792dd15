"""What a process was given: CPUs from its allocation, GPUs split among a sweep's concurrent cells."""

from __future__ import annotations

import pytest

from harness.running.allocation import allocated_cpus, gpu_sets, visible_gpus


def test_the_cpus_are_the_affinity_capped_by_slurms_cpus_per_task(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5}, raising=False)
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    assert allocated_cpus() == 6
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "2")
    assert allocated_cpus() == 2
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "")  # set but empty: the affinity
    assert allocated_cpus() == 6


def test_the_visible_gpus_are_cuda_visible_devices_when_set(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5,6,7")
    assert visible_gpus() == ["3", "5", "6", "7"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # every GPU hidden
    assert visible_gpus() == [] and gpu_sets(2) == []


@pytest.mark.parametrize(("jobs", "expected"), [
    (1, ["3,5,6,7"]),            # one cell: all of them
    (2, ["3,5", "6,7"]),         # each cell its own pair
    (3, ["3", "5", "6"]),        # one each, the fourth idle rather than shared unevenly
    (4, ["3", "5", "6", "7"]),
    (6, ["3", "5", "6", "7", "3", "5"]),  # more cells than GPUs: they take turns
])
def test_each_concurrent_cell_gets_its_own_gpus(monkeypatch, jobs, expected):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5,6,7")
    assert gpu_sets(jobs) == expected
