"""What this process was given: CPUs from the allocation, GPUs from the visible devices.

``allocated_cpus()`` is the CPUs this process may run on (``os.sched_getaffinity``), capped by
``SLURM_CPUS_PER_TASK`` inside a Slurm job (where the node's cores are shared with other jobs
and the affinity mask may not say so); never ``os.cpu_count()``, the whole machine's count.

``gpu_sets(jobs)`` splits the visible GPUs among ``jobs`` concurrent cells: the ids in
``CUDA_VISIBLE_DEVICES`` when it is set (so a cell only ever sees GPUs its parent was given),
else torch's device count; each cell gets ``gpus // jobs`` of its own, or, with more cells
than GPUs, cells take turns on them. No GPU: no sets, and ``CUDA_VISIBLE_DEVICES`` is left alone.
"""

from __future__ import annotations

import importlib.util
import os
import sys

CUDA_ENV = "CUDA_VISIBLE_DEVICES"


def allocated_cpus() -> int:
    """CPUs of this process's allocation (see the module's docstring)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    slurm = os.environ.get("SLURM_CPUS_PER_TASK", "").strip()
    if slurm.isdigit() and int(slurm) >= 1:
        cpus = min(cpus, int(slurm))
    return max(1, cpus)


def visible_gpus() -> list[str]:
    """The GPU ids this process may hand out: ``CUDA_VISIBLE_DEVICES``, else torch's count."""
    given = os.environ.get(CUDA_ENV)
    if given is not None:
        return [g.strip() for g in given.split(",") if g.strip() and g.strip() != "-1"]
    if "torch" not in sys.modules and importlib.util.find_spec("torch") is None:
        return []
    import torch

    return [str(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


def gpu_sets(jobs: int, gpus: list[str] | None = None) -> list[str]:
    """One ``CUDA_VISIBLE_DEVICES`` value per concurrent cell slot (empty: no GPU to hand out)."""
    gpus = visible_gpus() if gpus is None else gpus
    if not gpus:
        return []
    jobs = max(1, jobs)
    if jobs >= len(gpus):
        return [gpus[slot % len(gpus)] for slot in range(jobs)]
    share = len(gpus) // jobs
    return [",".join(gpus[slot * share:(slot + 1) * share]) for slot in range(jobs)]


__all__ = ["allocated_cpus", "visible_gpus", "gpu_sets", "CUDA_ENV"]
