"""Which engine runs a planned sweep's cells: ``local`` (the default), ``submitit`` or ``ray``.

``-x key=value`` options pass straight to the engine and are checked against what it accepts
before anything is submitted (one line, exit 2, naming the valid keys); a value is read as JSON
where it parses (``240``, ``0.5``, ``true``), else as text. The core imports neither submitit
nor Ray unless one is asked for; without it, one line names the extra to install.

- ``submitit`` (``harness.running.sweep_submitit``): keys are submitit's ``AutoExecutor``
  parameters (``timeout_min``, ``gpus_per_node``, ``slurm_partition``, ``local_signal_delay_s``…)
  and ``cluster`` (``slurm``, ``local`` or ``debug``; default: Slurm where ``sbatch`` is, else local).
- ``ray`` (``harness.running.sweep_ray``): keys are Ray's task options (``num_gpus=0.5``,
  ``num_cpus``, ``memory``, ``max_retries``…), ``address`` (a running cluster; default a local
  Ray) and ``init.KEY`` for ``ray.init`` of a local one (``init.num_gpus=1``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import ParameterError

EXECUTORS = ("local", "submitit", "ray")
#: the extra that brings each engine
EXTRAS = {"submitit": ("submitit", "slurm"), "ray": ("ray", "ray")}


def parse_options(texts: Sequence[str]) -> dict[str, Any]:
    """``-x key=value`` options as a dict (values read as JSON where they parse)."""
    options: dict[str, Any] = {}
    for text in texts:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"-x {text!r}: expected key=value")
        try:
            options[key.strip()] = json.loads(value)
        except ValueError:
            options[key.strip()] = value
    return options


def require(executor: str) -> Any:
    """Import the engine's package, or one line naming the extra that installs it."""
    import importlib

    module, extra = EXTRAS[executor]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ParameterError(f"--executor {executor} needs {module}: pip install "
                             f"'calibration-harness[{extra}]'") from None


def check_executor(executor: str, texts: Sequence[str], *, submit_only: bool = False) -> dict[str, Any]:
    """The checked ``-x`` options of ``executor`` (see the module's docstring)."""
    if executor not in EXECUTORS:
        raise ParameterError(f"--executor {executor}: expected one of {', '.join(EXECUTORS)}")
    options = parse_options(texts)
    if executor == "local":
        if options:
            raise ParameterError(f"-x {next(iter(options))}: the local executor takes no -x options")
        if submit_only:
            raise ParameterError("--submit-only needs a scheduler: --executor submitit")
        return options
    require(executor)
    if executor == "ray":
        from harness.running import sweep_ray

        if submit_only:
            raise ParameterError("--submit-only: Ray's tasks end with their driver; submit the whole sweep "
                                 "instead (ray job submit -- harness sweep … --executor ray)")
        sweep_ray.check_options(options)
        return options
    from harness.running import sweep_submitit

    sweep_submitit.check_options(options)
    if submit_only:
        sweep_submitit.check_submit_only(options)
    return options


def submit(executor: str, out: Path, indices: Sequence[int], *, jobs: int, options: dict[str, Any],
           wait: bool) -> None:
    """Hand cells ``indices`` of the sweep planned in ``out`` to ``executor``; with ``wait``,
    return once every one has ended (a failed cell is one line naming it and its log)."""
    if executor == "submitit":
        from harness.running.sweep_submitit import submit_cells
    else:
        from harness.running.sweep_ray import submit_cells
    submit_cells(out, list(indices), jobs=jobs, options=options, wait=wait)


__all__ = ["EXECUTORS", "parse_options", "require", "check_executor", "submit"]
