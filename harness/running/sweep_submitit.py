"""``--executor submitit``: each cell a submitit job — a Slurm job array, or submitit's local or
debug executor where there is no Slurm.

Imported only when asked for (it imports submitit, the ``slurm`` extra). A cell is a
``CellJob``, a submitit ``Checkpointable``: when Slurm preempts it or its time limit nears
(``signal_delay_s`` before it), submitit requeues the same job, whose next attempt resumes the
cell's run folder (every finished stage is reused) and takes over its run lock by the job's
restart count (``harness.running.scheduler_identity``).

The cluster is ``-x cluster=slurm|local|debug``, else submitit's guess (Slurm where ``sbatch``
is). On Slurm the cells go out as one array, at most ``--jobs`` running at once
(``slurm_array_parallelism``); the local executor starts ``--jobs`` cells at a time and the
debug executor runs them one by one in this process. Options apply as submitit's
``AutoExecutor`` applies them: shared ones (``timeout_min``…) everywhere, ``slurm_*`` on Slurm
only, ``local_*`` locally only (where ``local_signal_delay_s`` and ``local_visible_gpus`` reach
the local executor, which the ``AutoExecutor`` does not pass on). Submitit's logs go to
``<sweep>/submitit/``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import submitit
from submitit.core.plugins import get_executors

from harness.errors import HarnessError, ParameterError

#: what submitit's local executor reads beyond the shared parameters
LOCAL_KEYS = ("signal_delay_s", "visible_gpus", "setup")
LOG_FOLDER = "submitit"


def _valid(cluster: str) -> set[str]:
    if cluster == "local":
        return set(LOCAL_KEYS)
    return set(get_executors()[cluster]._valid_parameters()) if cluster in get_executors() else set()


def check_options(options: dict[str, Any]) -> None:
    """Each ``-x`` key is one submitit accepts, with a value of its type."""
    generics = submitit.AutoExecutor._typed_parameters()
    clusters = sorted(get_executors())
    for key, value in options.items():
        if key == "cluster":
            if value not in clusters:
                raise ParameterError(f"-x cluster={value}: submitit knows {', '.join(clusters)}")
            continue
        if key in generics:
            wanted = (int, float) if generics[key] is float else generics[key]
            if not isinstance(value, wanted) or isinstance(value, bool) and wanted is not bool:
                raise ParameterError(f"-x {key}={value}: expected {generics[key].__name__}")
            continue
        prefix, _, arg = key.partition("_")
        if prefix not in clusters or arg not in _valid(prefix) | set(generics):
            valid = sorted(generics) + [f"{c}_{k}" for c in ("slurm", "local") for k in sorted(_valid(c))]
            raise ParameterError(f"-x {key}: not a submitit parameter; valid: cluster, {', '.join(valid)}")


def check_submit_only(options: dict[str, Any]) -> None:
    """``--submit-only`` needs Slurm: submitit cancels its local jobs when this process ends."""
    if _cluster(options) != "slurm":
        raise ParameterError(f"--submit-only needs Slurm (here: submitit's {_cluster(options)} executor, "
                             "whose jobs end with this process)")


def _cluster(options: dict[str, Any]) -> str:
    return str(options.get("cluster") or submitit.AutoExecutor.which())


def make_executor(folder: Path, options: dict[str, Any], jobs: int) -> Any:
    """The submitit executor for ``options`` (see the module's docstring)."""
    cluster = _cluster(options)
    generics = submitit.AutoExecutor._typed_parameters()
    shared = {k: v for k, v in options.items() if k in generics}
    own = {k.partition("_")[2]: v for k, v in options.items() if k.startswith(f"{cluster}_")}
    try:
        if cluster == "debug":
            return submitit.DebugExecutor(folder)
        if cluster == "local":
            executor = submitit.LocalExecutor(folder)
            executor.update_parameters(**{**shared, **own})
            return executor
        executor = submitit.AutoExecutor(folder, cluster=cluster)
        executor.update_parameters(**shared, **{f"{cluster}_{k}": v for k, v in own.items()},
                                   **({"slurm_array_parallelism": jobs} if cluster == "slurm" else {}))
        return executor
    except (NameError, ValueError, AssertionError, TypeError) as exc:
        raise ParameterError(f"submitit: {str(exc).splitlines()[0]}") from None


class CellJob(submitit.helpers.Checkpointable):
    """Cell ``index`` of the sweep planned in ``folder``; requeued as itself when interrupted."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def __call__(self, index: int) -> str:
        from harness.running.sweep_plan import run_cell

        return run_cell(Path(self.folder), index)

    def checkpoint(self, index: int) -> Any:
        """Called by submitit on preemption or near the time limit: note it, and requeue the cell
        as it is (its run folder is its state)."""
        from harness.running.sweep_plan import read_plan, record_attempt

        record_attempt(read_plan(Path(self.folder)).cells[index].spec.out, "checkpoint", cell=index)
        return super().checkpoint(index)


def submit_cells(out: Path, indices: Sequence[int], *, jobs: int, options: dict[str, Any],
                 wait: bool) -> list[Any]:
    """Submit cells ``indices`` and return their jobs; with ``wait``, once all have ended (a failed
    cell is one line naming it and its log, after the others have ended)."""
    executor = make_executor(out / LOG_FOLDER, options, jobs)
    job = CellJob(str(out.resolve()))
    cluster = _cluster(options)
    if cluster == "slurm" or not wait:
        submitted = list(zip(indices, executor.map_array(job, list(indices)), strict=True))
        ids = ", ".join(str(j.job_id) for _, j in submitted[:3]) + ("…" if len(submitted) > 3 else "")
        print(f"sweep: submitted {len(submitted)} cells to submitit ({cluster}); job ids {ids}",
              file=sys.stderr, flush=True)
        failed = _failures(submitted) if wait else []
    else:
        submitted, failed, pending, running = [], [], list(indices), []
        while pending or running:  # at most --jobs local cells at once
            while pending and len(running) < max(1, jobs):
                index = pending.pop(0)
                running.append((index, executor.submit(job, index)))
            ended = running if cluster == "debug" else [(i, j) for i, j in running if j.done()]
            failed += _failures(ended)  # the debug executor runs a job when asked for its result
            submitted += ended
            running = [r for r in running if r not in ended]
            time.sleep(0.2 if running else 0)
    if failed:
        raise HarnessError(f"{len(failed)} cell(s) failed: {'; '.join(failed)}; "
                           f"harness sweep {out} --collect gathers the rest")
    return [j for _, j in submitted]


def _failures(ended: Sequence[tuple[int, Any]]) -> list[str]:
    failed = []
    for index, job in ended:
        try:
            job.result()
        except Exception as exc:  # a failed or uncompleted cell, named with its log
            failed.append(f"cell {index} ({type(exc).__name__}; log {job.paths.stderr})")
    return failed


__all__ = ["CellJob", "check_options", "make_executor", "submit_cells", "LOCAL_KEYS"]
