"""A requeued cell takes over its own earlier attempt's run lock on any host, never another job's.

The lock files are constructed as another host's holder would have written them, and the
scheduler's identity comes from the environment a real Slurm or Ray attempt would see."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.running.runlock import LOCK_FILE, RunLock, RunLockedError
from harness.running.scheduler_identity import earlier_attempt, identity

SLURM_VARS = ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_RESTART_COUNT",
              "HARNESS_RAY_TASK_ID", "HARNESS_RAY_ATTEMPT")


@pytest.fixture(autouse=True)
def no_scheduler(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SLURM_VARS:
        monkeypatch.delenv(name, raising=False)


def slurm(monkeypatch: pytest.MonkeyPatch, job: str, task: str, restart: int) -> None:
    monkeypatch.setenv("SLURM_JOB_ID", str(int(job) + int(task)))
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", job)
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", task)
    monkeypatch.setenv("SLURM_RESTART_COUNT", str(restart))


def lock_left_by(folder: Path, scheduler: dict | None, host: str = "node-17") -> Path:
    """A lock as a holder on another host wrote it (its pid cannot be checked from here)."""
    folder.mkdir(parents=True, exist_ok=True)
    holder = {"pid": 4242, "host": host, "started": "2026-12-06T10:00:00Z"}
    if scheduler is not None:
        holder["scheduler"] = scheduler
    (folder / LOCK_FILE).write_text(json.dumps(holder))
    return folder / LOCK_FILE


def test_the_lock_records_the_slurm_job_and_its_restart_count(tmp_path, monkeypatch):
    slurm(monkeypatch, "900", "2", 1)
    with RunLock(tmp_path):
        held = json.loads((tmp_path / LOCK_FILE).read_text())
    assert held["pid"] == os.getpid()
    assert held["scheduler"] == {"slurm": {"job_id": "902", "array_job_id": "900", "array_task_id": "2",
                                           "restart_count": 1}}


def test_outside_a_scheduler_the_lock_records_no_scheduler(tmp_path):
    assert identity() == {}
    with RunLock(tmp_path):
        assert "scheduler" not in json.loads((tmp_path / LOCK_FILE).read_text())


def test_a_requeued_slurm_job_takes_over_its_earlier_attempts_lock_on_another_host(tmp_path, monkeypatch):
    earlier = identity_of(monkeypatch, "900", "2", 0)
    lock_left_by(tmp_path, earlier)
    slurm(monkeypatch, "900", "2", 1)
    with RunLock(tmp_path):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["scheduler"]["slurm"]["restart_count"] == 1
    assert not (tmp_path / LOCK_FILE).exists()


@pytest.mark.parametrize(("job", "task", "restart", "why"), [
    ("901", "2", 1, "another array"),
    ("900", "1", 1, "another cell of the same array"),
    ("900", "2", 0, "the same attempt (a second copy of it)"),
])
def test_a_lock_of_a_different_or_the_same_live_slurm_job_is_never_taken_over(
        tmp_path, monkeypatch, job, task, restart, why):
    lock = lock_left_by(tmp_path, identity_of(monkeypatch, "900", "2", 0))
    before = lock.read_text()
    slurm(monkeypatch, job, task, restart)
    with pytest.raises(RunLockedError, match="node-17.*Slurm job 902 restart 0"):
        RunLock(tmp_path).acquire()
    assert lock.read_text() == before, why


def test_a_lock_without_a_scheduler_on_another_host_is_never_taken_over_by_a_slurm_job(tmp_path, monkeypatch):
    lock_left_by(tmp_path, None)
    slurm(monkeypatch, "900", "2", 3)
    with pytest.raises(RunLockedError, match="pid 4242 on node-17"):
        RunLock(tmp_path).acquire()


def test_a_retried_ray_task_takes_over_its_earlier_attempt_and_only_that(tmp_path, monkeypatch):
    lock_left_by(tmp_path, {"ray": {"task_id": "c8ef45", "attempt": 0}})
    monkeypatch.setenv("HARNESS_RAY_TASK_ID", "ffff01")  # another task
    monkeypatch.setenv("HARNESS_RAY_ATTEMPT", "1")
    with pytest.raises(RunLockedError, match="Ray task c8ef45 attempt 0"):
        RunLock(tmp_path).acquire()
    monkeypatch.setenv("HARNESS_RAY_TASK_ID", "c8ef45")  # the same task, retried
    with RunLock(tmp_path):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["scheduler"] == {
            "ray": {"task_id": "c8ef45", "attempt": 1}}


def test_a_job_outside_an_array_is_named_by_its_job_id():
    first = {"slurm": {"job_id": "77", "restart_count": 0}}
    assert earlier_attempt(first, {"slurm": {"job_id": "77", "restart_count": 2}})
    assert not earlier_attempt(first, {"slurm": {"job_id": "78", "restart_count": 2}})
    assert not earlier_attempt(first, {})  # no scheduler here: nothing to compare


def identity_of(monkeypatch: pytest.MonkeyPatch, job: str, task: str, restart: int) -> dict:
    with monkeypatch.context() as inner:
        slurm(inner, job, task, restart)
        return identity()
