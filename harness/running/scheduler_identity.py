"""Which scheduler job this process is, and whether another holder was an earlier attempt of it.

The run lock records ``identity()`` beside the holder's pid and host. A cell requeued by a
scheduler may start on another host, where the earlier attempt's pid cannot be checked; the
scheduler's own ids say whether the lock was left by an earlier attempt of this very job:

- **Slurm**: a requeued job keeps its job id (and, in an array, ``SLURM_ARRAY_JOB_ID`` and
  ``SLURM_ARRAY_TASK_ID``) and counts ``SLURM_RESTART_COUNT`` up; Slurm runs one attempt of
  a job at a time, so a holder with the same ids and a lower restart count is gone.
- **Ray**: a retried task keeps its task id and counts its attempt number up (the sweep's Ray
  task puts both in ``HARNESS_RAY_TASK_ID`` / ``HARNESS_RAY_ATTEMPT``, so the core imports no Ray).

Anything else (no scheduler, another job, the same attempt) is never an earlier attempt.
"""

from __future__ import annotations

import os
from typing import Any

_SLURM = {"job_id": "SLURM_JOB_ID", "array_job_id": "SLURM_ARRAY_JOB_ID",
          "array_task_id": "SLURM_ARRAY_TASK_ID", "restart_count": "SLURM_RESTART_COUNT"}
RAY_TASK_ENV = "HARNESS_RAY_TASK_ID"
RAY_ATTEMPT_ENV = "HARNESS_RAY_ATTEMPT"


def _number(text: str | None) -> int:
    return int(text) if text and text.strip().isdigit() else 0


def identity() -> dict[str, Any]:
    """This process's scheduler identity (``{}`` outside a scheduler)."""
    found: dict[str, Any] = {}
    if os.environ.get("SLURM_JOB_ID"):
        slurm: dict[str, Any] = {k: os.environ[v] for k, v in _SLURM.items() if os.environ.get(v)}
        slurm["restart_count"] = _number(os.environ.get("SLURM_RESTART_COUNT"))
        found["slurm"] = slurm
    if os.environ.get(RAY_TASK_ENV):
        found["ray"] = {"task_id": os.environ[RAY_TASK_ENV],
                        "attempt": _number(os.environ.get(RAY_ATTEMPT_ENV))}
    return found


def _slurm_job(slurm: dict[str, Any]) -> tuple[str, ...]:
    """A Slurm job's lasting name: its array job and task ids, else its job id."""
    if slurm.get("array_job_id") and slurm.get("array_task_id") is not None:
        return ("array", str(slurm["array_job_id"]), str(slurm["array_task_id"]))
    return ("job", str(slurm.get("job_id")))


def earlier_attempt(holder: dict[str, Any], mine: dict[str, Any] | None = None) -> bool:
    """``holder`` (a scheduler identity from a lock) is an earlier attempt of this job."""
    mine = identity() if mine is None else mine
    theirs_slurm, my_slurm = holder.get("slurm"), mine.get("slurm")
    if isinstance(theirs_slurm, dict) and my_slurm:
        return (_slurm_job(theirs_slurm) == _slurm_job(my_slurm)
                and _number(str(theirs_slurm.get("restart_count", 0))) < my_slurm["restart_count"])
    theirs_ray, my_ray = holder.get("ray"), mine.get("ray")
    if isinstance(theirs_ray, dict) and my_ray:
        return (theirs_ray.get("task_id") == my_ray["task_id"]
                and _number(str(theirs_ray.get("attempt", 0))) < my_ray["attempt"])
    return False


__all__ = ["identity", "earlier_attempt", "RAY_TASK_ENV", "RAY_ATTEMPT_ENV"]
