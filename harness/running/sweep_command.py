"""The body of ``harness sweep``: plan and run a grid, or run one planned cell, or collect.

``harness sweep [options]`` plans the grid into ``--out`` and runs it with ``--executor``;
``harness sweep FOLDER --cell K`` and ``harness sweep FOLDER --collect`` act on a planned sweep
(``harness.running.sweep_plan``) and take no grid options.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import ParameterError


def sweep(folder: Path | None, *, seeds: str, extractors: Sequence[str], out: Path, jobs: int,
          executor: str, executor_options: Sequence[str], plan_only: bool, cell: int | None,
          collect: bool, submit_only: bool, options: dict[str, Any]) -> None:
    """Do what the options of ``harness sweep`` ask (see the module's docstring)."""
    from harness.running import sweep_plan

    if cell is not None or collect:
        if cell is not None and collect:
            raise ParameterError("--cell and --collect: one at a time")
        if folder is None:
            raise ParameterError(f"{'--collect' if collect else '--cell'} needs the sweep folder: "
                                 "harness sweep FOLDER …")
        if cell is not None:
            sweep_plan.run_cell(folder, cell, force=bool(options.get("force")))
        else:
            sweep_plan.collect(folder)
        return
    if folder is not None:
        raise ParameterError(f"{folder}: a sweep folder is given with --cell K or --collect "
                             "(a new sweep's folder is --out)")
    from harness.running.experiment import ExperimentSpec
    from harness.running.sweep import parse_seeds, run_sweep

    base = ExperimentSpec.from_cli(extractor=(extractors or ("logprob",))[0], seed=0, out=None,
                                   **{**options, "overrides": ()})
    run_sweep(base, out, seeds=parse_seeds(seeds), extractors=extractors, overrides=options["overrides"],
              jobs=jobs, executor=executor, executor_options=executor_options, submit_only=submit_only,
              plan_only=plan_only)


__all__ = ["sweep"]
