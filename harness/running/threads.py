"""How many torch threads a run uses: ``--threads N``, else ``OMP_NUM_THREADS``, else measured.

On a shared CPU, torch's default (one intra-op thread per core) spins against every other busy
process: the explicit training stage of the embedded default took 18 s idle, 56 s beside one
busy process and 462 s beside three with 2 threads on 2 cores, but 28 s idle and 30 s beside a
busy process with one thread. So the measured default counts the cores that are free now —
the CPUs of this process's allocation (``harness.running.allocation``) less the 1-minute load
average, rounded, at least 1 — and gives up a thread as soon as a core is more than half taken.
The choice is made once, at the start of a run, and recorded in its manifest (``threads``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

import attrs

from harness.errors import ParameterError

ENV = "OMP_NUM_THREADS"


@attrs.frozen(kw_only=True)
class ThreadChoice:
    """The thread count and why: ``--threads``, ``OMP_NUM_THREADS`` or ``measured``."""

    threads: int
    chosen_by: str
    cpus: int
    load_average_1m: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def check_threads(value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ParameterError(f"--threads {value}: expected a whole number of threads, at least 1")


def usable_cpus() -> int:
    """The CPUs of this process's allocation (affinity, capped by ``SLURM_CPUS_PER_TASK``)."""
    from harness.running.allocation import allocated_cpus

    return allocated_cpus()


def choose_threads(requested: int | None = None) -> ThreadChoice:
    """The thread count for this run (see the module's docstring)."""
    check_threads(requested)
    cpus = usable_cpus()
    if requested is not None:
        return ThreadChoice(threads=requested, chosen_by="--threads", cpus=cpus)
    env = os.environ.get(ENV, "").strip()
    if env.isdigit() and int(env) >= 1:
        return ThreadChoice(threads=int(env), chosen_by=ENV, cpus=cpus)
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average on this platform
        load = 0.0
    free = int(cpus - load + 0.5)  # a core more than half taken counts as taken
    return ThreadChoice(threads=max(1, min(cpus, free)), chosen_by="measured", cpus=cpus,
                        load_average_1m=round(load, 2))


def apply_threads(choice: ThreadChoice) -> int:
    """Set torch's intra-op thread count (where torch is installed); the count in force."""
    if "torch" not in sys.modules and importlib.util.find_spec("torch") is None:
        return choice.threads
    import torch

    torch.set_num_threads(choice.threads)
    return int(torch.get_num_threads())
