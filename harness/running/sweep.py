"""The grid behind ``harness sweep``: seeds x extractors x multi-valued parameters, one run folder each.

A **cell** is an ordinary ``harness run`` folder under ``<sweep>/cells/``. The grid's axes are
the seeds (``--seeds 0-9`` or ``0,3,7``), the extractors and every ``-p`` given with several
values (``-p trainer.implicit.lam=4,8,16``); trainers and calibrators are strategies *within*
each cell (one run trains every trainer on a shared baseline, and fits every calibrator on it).
A model name may contain ``{seed}`` (``--model tiny-{seed}``: each seed its own world).

Each cell reuses every finished stage of its folder, and a finished cell (its manifest says
complete, for the same spec) is not rerun at all, so a killed sweep resumes. Every sweep first
writes its plan (``harness.running.sweep_plan``: ``plan.json``, the contract a scheduler drives
with ``harness sweep <folder> --cell K``). The ``local`` executor runs the cells in this process,
or with ``jobs > 1`` as separate ``harness sweep <folder> --cell K`` processes, each with its
share of the allocation's CPUs as threads and its own ``CUDA_VISIBLE_DEVICES``
(``harness.running.allocation``); ``submitit`` and ``ray`` hand them to a scheduler
(``harness.running.sweep_executors``). ``harness.reporting.sweep_summary`` turns the cells'
reports into ``sweep.json`` and ``sweep.md``.
"""

from __future__ import annotations

import itertools
import os
import queue
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs

from harness.errors import HarnessError, ParameterError
from harness.machinery.config import Override
from harness.running.allocation import CUDA_ENV, allocated_cpus, gpu_sets
from harness.running.experiment import EVAL_TASK, ExperimentSpec
from harness.running.sweep_cell import RUN_ONLY, Cell, finished


def parse_seeds(text: str) -> list[int]:
    """``0-9`` (inclusive), ``0,3,7``, or a mix (``0-2,5``); an empty range is an error."""
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        match = re.fullmatch(r"(-?\d+)(?:\s*-\s*(-?\d+))?", part)
        if not match:
            raise ParameterError(f"--seeds {text!r}: expected a range (0-9) or a list (0,3,7)")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
        if high < low:
            raise ParameterError(f"--seeds {text!r}: the range {part} is empty")
        seeds += range(low, high + 1)
    return list(dict.fromkeys(seeds))


def split_values(text: str) -> list[str]:
    """A ``-p`` value split at its top-level commas (``4,8,16``; ``[1,2]`` and quotes stay whole)."""
    values, depth, quote, current = [], 0, "", ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            values.append(current.strip())
            current = ""
            continue
        current += char
    values.append(current.strip())
    return values


def parse_grid(overrides: Sequence[str]) -> tuple[list[str], dict[str, list[str]]]:
    """Single-valued ``-p`` overrides, and each multi-valued one's values by its target."""
    fixed: list[str] = []
    axes: dict[str, list[str]] = {}
    for text in overrides:
        target, sep, value = text.partition("=")
        _parse(text if sep else text + "=")  # an unknown kind or a bad shape: one line
        if not sep:
            raise ParameterError(f"-p {text!r}: expected kind.key=value")
        values = split_values(value)
        if any(v == "" for v in values):
            raise ParameterError(f"-p {text!r}: an empty value in the list")
        if len(values) == 1:
            fixed.append(text)
        else:
            axes[target.strip()] = list(dict.fromkeys(values))
    return fixed, axes


def _parse(text: str) -> Override:
    """A ``-p`` override; one for ``--eval-task``'s task (``eval_task.KEY``) reads as ``task.KEY``."""
    if text.startswith(f"{EVAL_TASK}."):
        return Override.parse("task." + text[len(EVAL_TASK) + 1:])
    return Override.parse(text)


def check_parameters(overrides: Sequence[str], spec: ExperimentSpec, extractors: Sequence[str]) -> None:
    """Every ``-p`` names a parameter that a selected (or, for a kind-wide one, some) strategy takes,
    before any cell runs: a typo in the grid is one line, not a failure in cell 7."""
    from harness.machinery import registry

    selected = {"task": [spec.task], "backend": [spec.backend], "judge": [spec.judge],
                "extractor": list(extractors), "trainer": list(spec.trainers),
                "calibrator": list(spec.calibrators), "metric": list(spec.metrics)}
    for text in overrides:
        override = _parse(text)
        names = [override.name] if override.name else selected.get(override.kind) or []
        if text.startswith(f"{EVAL_TASK}."):
            if spec.eval_task is None:
                raise ParameterError(f"-p {text}: there is no --eval-task")
            names = [spec.eval_task]
        if not override.name and override.kind in ("extractor", "metric") or not names:
            names = registry.names(override.kind)  # trainers bring their own extractors
        accepted = [registry.get(override.kind, n).parameters() for n in names]
        if any(a is None or override.key in a for a in accepted):
            continue
        valid = sorted({k for a in accepted for k in (a or {})})
        raise ParameterError(f"{override}: {override.kind} {', '.join(names)} has no parameter "
                             f"{override.key!r}; valid: {', '.join(valid) or '(none)'}")


def check_values(cells: Sequence[Cell]) -> None:
    """Build each cell's extractors, trainers and calibrators (cheap: no model is loaded), so that
    a bad value (``-p extractor.aggregation=mean,mnn``) fails before the first cell runs."""
    from harness.machinery import registry
    from harness.machinery.config import Config

    seen = set()
    for cell in cells:
        spec = cell.spec
        key = (spec.extractor, spec.overrides)
        if key in seen:
            continue
        seen.add(key)
        own = [o for o in spec.overrides if not o.startswith(f"{EVAL_TASK}.")]  # the run's own
        config = Config.load(spec.config_file, own)
        for kind, names in (("extractor", [spec.extractor]), ("trainer", spec.trainers),
                            ("calibrator", spec.calibrators)):
            for name in names:
                registry.create(kind, name, config)


def build_cells(base: ExperimentSpec, out: Path, seeds: Sequence[int], extractors: Sequence[str],
                overrides: Sequence[str]) -> list[Cell]:
    """Every cell of the grid, seeds innermost, each with its own run folder under ``out/cells``."""
    if not seeds:
        raise ParameterError("--seeds: no seeds to run")
    fixed, grid = parse_grid(overrides)
    from harness.machinery import registry

    now = [registry.current_name("extractor", n) for n in extractors]  # a deprecated name as its name now
    extractors = list(dict.fromkeys(now)) or [base.extractor]
    every = [*base.overrides, *fixed] + [f"{k}={v}" for k, vs in grid.items() for v in vs]
    check_parameters(every, base, extractors)
    axes_names = (["extractor"] if len(extractors) > 1 else []) + list(grid)
    axes_values = ([extractors] if len(extractors) > 1 else []) + list(grid.values())
    cells = []
    for combo in itertools.product(*axes_values):
        axes = dict(zip(axes_names, combo, strict=True))
        extractor = axes.get("extractor", extractors[0])
        grid_params = tuple(f"{k}={v}" for k, v in axes.items() if k != "extractor")
        params = tuple(base.overrides) + tuple(fixed) + grid_params
        for seed in seeds:
            spec = attrs.evolve(base, seed=seed, extractor=extractor, overrides=params,
                                model=base.model.replace("{seed}", str(seed)))
            cell = Cell(seed=seed, axes=axes, spec=spec)
            cells.append(attrs.evolve(cell, spec=attrs.evolve(spec, out=out / "cells" / cell.name)))
    check_values(cells)
    return cells


def cli_arguments(spec: ExperimentSpec) -> list[str]:
    """The ``harness run`` arguments that make ``spec``."""
    args = ["run", "--task", spec.task, *(["--eval-task", spec.eval_task] if spec.eval_task else []),
            "--model", spec.model, "--backend", spec.backend,
            "--extractor", spec.extractor, "--judge", spec.judge, "--seed", str(spec.seed),
            "--test-size", repr(spec.test_size), "--bootstrap", spec.bootstrap, "--out", str(spec.out)]
    args += [a for t in spec.trainers for a in ("--trainer", t)]
    args += [a for c in (spec.calibrators or ("none",)) for a in ("--calibrator", c)]
    args += [a for m in spec.metrics for a in ("--metric", m)]
    args += [a for o in spec.overrides for a in ("-p", o)]
    args += ["--limit", str(spec.limit)] if spec.limit is not None else []
    args += ["--calibration-size", repr(spec.calibration_size)] if spec.calibration_size is not None else []
    args += ["--config", str(spec.config_file)] if spec.config_file else []
    args += [flag for flag, on in (("--eval-on-train", spec.eval_on_train), ("--force", spec.force),
                                   ("--no-cache", spec.no_cache)) if on]
    return args


def cell_threads(jobs: int) -> int:
    """Threads per cell process so that ``jobs`` cells share this allocation's CPUs without fighting."""
    return max(1, allocated_cpus() // max(1, jobs))


def _run_in_subprocess(out: Path, index: int, cell: Cell, threads: int, gpus: str | None) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    if gpus is not None:
        env[CUDA_ENV] = gpus
    cell.spec.out.mkdir(parents=True, exist_ok=True)
    with open(cell.spec.out / "sweep-cell.log", "ab") as log:
        command = ["sweep", str(out), "--cell", str(index), *(["--force"] if cell.spec.force else [])]
        done = subprocess.run([sys.executable, "-m", "harness.cli", *command],
                              stdout=log, stderr=subprocess.STDOUT, env=env)
    if done.returncode != 0:
        raise HarnessError(f"cell {cell.name} failed (exit {done.returncode}); "
                           f"see {cell.spec.out / 'sweep-cell.log'}")


def _run_local(out: Path, cells: Sequence[Cell], todo: Sequence[int], jobs: int) -> list[str]:
    """Run the ``todo`` cells (by index) here: in this process, or ``jobs`` processes at once, each
    with its share of the CPUs and of the visible GPUs. A cell that fails is said at once, in one
    line, and the others go on; returns those lines (empty when every cell finished)."""
    from harness.running.sweep_plan import run_planned

    threads, gpus = cell_threads(jobs), (gpu_sets(jobs) if jobs > 1 else [])
    slots: queue.SimpleQueue[int] = queue.SimpleQueue()
    for slot in range(max(1, jobs)):
        slots.put(slot)
    failed: list[str] = []

    def one(item: tuple[int, int]) -> None:
        number, index = item
        cell = cells[index]
        slot = slots.get()
        try:
            where = f" on GPU {gpus[slot]}" if gpus else ""
            _say(f"sweep: cell {number}/{len(todo)} {cell.name}: running{where}")
            start = time.monotonic()
            if jobs > 1:
                _run_in_subprocess(out, index, cell, threads, gpus[slot] if gpus else None)
            else:
                run_planned(cell, index)
            _say(f"sweep: cell {number}/{len(todo)} {cell.name}: done in {time.monotonic() - start:.0f} s")
        except Exception as exc:  # noqa: BLE001 - said now, raised once every cell has had its turn
            line = f"{cell.name}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            failed.append(line)
            _say(f"sweep: cell {number}/{len(todo)} FAILED, the others go on: {line}")
        finally:
            slots.put(slot)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(one, enumerate(todo, start=1)))
    return failed


def run_sweep(base: ExperimentSpec, out: Path, *, seeds: Sequence[int], extractors: Sequence[str] = (),
              overrides: Sequence[str] = (), jobs: int = 1, executor: str = "local",
              executor_options: Sequence[str] = (), submit_only: bool = False,
              plan_only: bool = False) -> dict[str, Any] | None:
    """Plan the grid (``plan.json``), run (or resume) every cell with ``executor``, then write
    ``sweep.json`` and ``sweep.md`` and return the summary; None when it only planned or submitted."""
    from harness.running.sweep_executors import check_executor, submit
    from harness.running.sweep_plan import collect, write_plan

    if base.force and executor != "local":
        raise ParameterError(f"--force with --executor {executor}: a requeued cell would start over each "
                             "time; remove the cells' folders to rerun them")
    options = check_executor(executor, executor_options, submit_only=submit_only)
    cells = build_cells(base, out, seeds, extractors, overrides)
    command = _command(base, seeds, extractors, overrides, jobs)
    plan = write_plan(out, cells, {**command, "executor": executor})
    if plan_only:
        _say(f"sweep: {len(cells)} cells planned: {plan}")
        return None
    began = time.monotonic()
    todo = [i for i, c in enumerate(cells) if base.force or not finished(c)]
    _say(f"sweep: {len(cells)} cells, {len(cells) - len(todo)} already finished; folder {out}")
    failed: list[str] = []
    if executor == "local":
        failed = _run_local(out, cells, todo, jobs)
    elif todo:
        submit(executor, out, todo, jobs=jobs, options=options, wait=not submit_only)
    if submit_only and executor != "local":
        _say(f"sweep: {len(todo)} cells submitted; gather them later with harness sweep {out} --collect")
        return None
    summary = collect(out, extra={"wall_seconds": round(time.monotonic() - began, 1)})
    if failed:
        raise HarnessError(f"{len(failed)} of {len(todo)} cells failed ({'; '.join(failed)}); the summary "
                           f"holds the others; rerun the same command to resume the failed cells")
    return summary


def _command(base: ExperimentSpec, seeds: Sequence[int], extractors: Sequence[str],
             overrides: Sequence[str], jobs: int) -> dict[str, Any]:
    data = {k: v for k, v in base.to_dict().items() if k not in (*RUN_ONLY, "out", "seed", "overrides")}
    return {**data, "seeds": list(seeds), "extractors": list(extractors) or [base.extractor],
            "overrides": list(overrides), "jobs": jobs}


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


__all__ = ["Cell", "parse_seeds", "split_values", "parse_grid", "check_parameters", "check_values",
           "build_cells", "run_sweep", "cli_arguments", "cell_threads", "finished"]
