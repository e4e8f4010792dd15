"""``--executor ray``: one Ray task per cell, on a running Ray cluster or a local one.

Imported only when asked for (it imports Ray, the ``ray`` extra). ``-x address=…`` joins a
running cluster (``auto``: the one this node belongs to); without it a local Ray starts, sized
by ``-x init.num_cpus=…`` / ``-x init.num_gpus=…``. Every other ``-x`` is a task option
checked by Ray itself (``num_gpus=0.5`` packs two cells on a GPU; Ray sets each task's
``CUDA_VISIBLE_DEVICES``), and a cell asks for one CPU unless told otherwise. A task that Ray
retries (``max_retries``, a lost node) keeps its task id: the cell runs with its id and attempt
number in ``HARNESS_RAY_TASK_ID`` / ``HARNESS_RAY_ATTEMPT``, so the retry takes over the run
lock its earlier attempt left and resumes its run folder. Ray's tasks end with their driver, so
this executor always waits (no ``--submit-only``).
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ray

from harness.errors import HarnessError, ParameterError
from harness.running.scheduler_identity import RAY_ATTEMPT_ENV, RAY_TASK_ENV

INIT = "init."


def _split(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``ray.init``'s options and the task's."""
    init = {k[len(INIT):]: v for k, v in options.items() if k.startswith(INIT)}
    if "address" in options:
        init["address"] = options["address"]
    task = {"num_cpus": 1, **{k: v for k, v in options.items() if not k.startswith(INIT) and k != "address"}}
    return init, task


def check_options(options: dict[str, Any]) -> None:
    """``init.*`` keys are ``ray.init``'s; the others are checked by Ray as task options."""
    from ray._common import ray_option_utils

    init, task = _split(options)
    accepted = set(inspect.signature(ray.init).parameters) - {"kwargs"}
    for key in init:
        if key not in accepted:
            raise ParameterError(f"-x {INIT}{key}: not an option of ray.init; valid: "
                                 f"{', '.join(sorted(accepted))}")
    unknown = sorted(set(task) - set(ray_option_utils.task_options))
    if unknown:
        raise ParameterError(f"-x {unknown[0]}: not a Ray task option; valid: address, init.KEY, "
                             f"{', '.join(sorted(ray_option_utils.task_options))}")
    try:
        ray_option_utils.validate_task_options(task, in_options=True)
    except (ValueError, TypeError) as exc:
        raise ParameterError(f"-x: {str(exc).splitlines()[0]}") from None


def run_ray_cell(folder: str, index: int) -> str:
    """The Ray task: cell ``index``, its task id and attempt in the environment for the run lock."""
    from harness.running.sweep_plan import run_cell

    context = ray.get_runtime_context()
    os.environ[RAY_TASK_ENV] = context.get_task_id() or ""
    worker = ray._private.worker.global_worker  # no public API gives the attempt number
    attempt = getattr(getattr(worker, "core_worker", None), "get_current_task_attempt_number", None)
    os.environ[RAY_ATTEMPT_ENV] = str(attempt() if attempt else 0)
    return run_cell(Path(folder), index)


def submit_cells(out: Path, indices: Sequence[int], *, jobs: int, options: dict[str, Any],
                 wait: bool = True) -> list[str]:
    """Run cells ``indices`` as Ray tasks and wait for all; a failed cell is one line naming it."""
    init, task_options = _split(options)
    began_here = not ray.is_initialized()
    if began_here:
        ray.init(**{"include_dashboard": False, "log_to_driver": False, **init})
    try:
        task = ray.remote(run_ray_cell).options(**task_options)
        refs = {task.remote(str(out.resolve()), i): i for i in indices}
        print(f"sweep: {len(refs)} cells submitted to Ray ({ray.get_runtime_context().gcs_address})",
              file=sys.stderr, flush=True)
        results, failed = [], []
        for ref, index in refs.items():
            try:
                results.append(ray.get(ref))
            except ray.exceptions.RayError as exc:
                failed.append(f"cell {index} ({str(exc).strip().splitlines()[-1][:200]})")
        if failed:
            raise HarnessError(f"{len(failed)} cell(s) failed: {'; '.join(failed)}; "
                               f"harness sweep {out} --collect gathers the rest")
        return results
    finally:
        if began_here:
            ray.shutdown()


__all__ = ["check_options", "run_ray_cell", "submit_cells"]
