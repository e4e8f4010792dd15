"""A planned sweep: ``plan.json``, one cell run by its index, and the summary collected later.

This is the contract any scheduler can drive. ``harness sweep … --plan`` writes
``<sweep>/plan.json`` (every cell's index, name, axes, seed, run folder and full spec) and exits;
``harness sweep <sweep> --cell K`` runs cell K of it (what a Kubernetes Indexed Job runs with
``$JOB_COMPLETION_INDEX``, or any batch system's array index; K counts from 0);
``harness sweep <sweep> --collect`` writes ``sweep.json``/``sweep.md`` from whatever cells are
complete and names the missing ones. Every ``harness sweep`` writes the plan, so any sweep
folder can be collected.

A cell is an ordinary ``harness run`` folder (``cells/<name>`` relative to the sweep, so a
sweep folder mounted elsewhere still works): a rerun of a killed or requeued cell reuses its
finished stages, and a finished cell is not rerun. Each attempt appends its start and end
(time, host, pid, the scheduler's identity) to the cell's ``attempts.jsonl``.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import attrs

from harness.artifacts import write_json_atomic
from harness.errors import InputError, ParameterError
from harness.running.experiment import ExperimentSpec

PLAN_FILE = "plan.json"
PLAN_SCHEMA = "calibration-harness/sweep-plan/v1"
ATTEMPTS_FILE = "attempts.jsonl"
#: spec fields stored as tuples and paths (JSON has lists and strings)
_TUPLES = ("extra_extractors", "trainers", "calibrators", "metrics", "overrides")
_PATHS = ("out", "config_file")


def write_plan(out: Path, cells: list[Any], command: dict[str, Any]) -> Path:
    """Write ``out/plan.json`` for ``cells`` (``harness.running.sweep.Cell``) atomically."""
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for index, cell in enumerate(cells):
        spec = {**cell.spec.to_dict(), "force": False}  # --force is one launch's, never a requeued attempt's
        folder = Path(spec.pop("out"))
        relative = folder.relative_to(out) if folder.is_relative_to(out) else folder
        entries.append({"index": index, "name": cell.name, "seed": cell.seed, "axes": cell.axes,
                        "folder": str(relative), "spec": spec})
    path = out / PLAN_FILE
    write_json_atomic(path, {"schema": PLAN_SCHEMA, "command": command, "cells": entries})
    return path


def spec_from_dict(data: dict[str, Any], out: Path) -> ExperimentSpec:
    """The spec a plan entry stores (its run folder given apart)."""
    fields = {a.name for a in attrs.fields(ExperimentSpec)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise InputError(f"plan: unknown spec field(s) {', '.join(unknown)} (made by a newer version?)")
    values = {k: tuple(v) if k in _TUPLES and v is not None else v for k, v in data.items()}
    values.update({k: Path(values[k]) for k in _PATHS if values.get(k) is not None})
    return ExperimentSpec(**{**values, "out": out})


@attrs.frozen(kw_only=True)
class Plan:
    """A sweep folder's plan: its command and its cells, in index order."""

    folder: Path
    command: dict[str, Any]
    cells: list[Any]


def read_plan(folder: Path) -> Plan:
    """The plan of a sweep folder; a missing, foreign or broken plan is one line."""
    from harness.running.sweep_cell import Cell

    path = Path(folder) / PLAN_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{folder}: no {PLAN_FILE} (write one with harness sweep … --out {folder} --plan)"
                         ) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: unreadable plan ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != PLAN_SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else None
        raise InputError(f"{path}: plan schema {found!r}, expected {PLAN_SCHEMA!r}")
    cells = []
    for entry in data["cells"]:
        folder_ = Path(entry["folder"])
        out = folder_ if folder_.is_absolute() else Path(folder) / folder_
        cells.append(Cell(seed=entry["seed"], axes=entry["axes"], spec=spec_from_dict(entry["spec"], out)))
    return Plan(folder=Path(folder), command=data.get("command") or {}, cells=cells)


def record_attempt(folder: Path, event: str, **extra: Any) -> None:
    """Append one line to a cell's ``attempts.jsonl`` (append-only: a kill loses nothing before it)."""
    from harness.running.scheduler_identity import identity

    folder.mkdir(parents=True, exist_ok=True)
    line = {"event": event, "time": round(time.time(), 3), "host": socket.gethostname(),
            "pid": os.getpid(), "scheduler": identity(),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), **extra}
    with open(folder / ATTEMPTS_FILE, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")


def read_attempts(folder: Path) -> list[dict[str, Any]]:
    """The lines of a cell's ``attempts.jsonl`` (a line torn by a kill is skipped)."""
    try:
        lines = (folder / ATTEMPTS_FILE).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    found = []
    for line in lines:
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found


def run_cell(folder: Path, index: int, *, force: bool = False) -> str:
    """Run (or resume) cell ``index`` of the sweep planned in ``folder``, in this process; return
    ``"done"``, or ``"finished"`` when it had already finished. ``force`` redoes every stage."""
    from harness.running.sweep_cell import finished

    plan = read_plan(folder)
    if not 0 <= index < len(plan.cells):
        raise ParameterError(f"--cell {index}: the plan of {folder} has cells 0 to {len(plan.cells) - 1}")
    cell = plan.cells[index]
    cell = attrs.evolve(cell, spec=attrs.evolve(cell.spec, force=force))
    if not force and finished(cell):
        print(f"sweep: cell {index} {cell.name}: already finished", file=sys.stderr, flush=True)
        return "finished"
    run_planned(attrs.evolve(cell, spec=attrs.evolve(cell.spec, progress=False)), index)
    return "done"


def run_planned(cell: Any, index: int) -> None:
    """Run one cell in this process, its start and end recorded in its ``attempts.jsonl``."""
    from harness.running.experiment import run_experiment

    record_attempt(cell.spec.out, "start", cell=index)
    run_experiment(cell.spec)
    record_attempt(cell.spec.out, "end", cell=index)


def collect(folder: Path, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``sweep.json``/``sweep.md`` from the plan's complete cells; the summary gains
    ``missing`` (the names of the cells not complete, also printed) and ``extra``."""
    from harness.reporting.sweep_summary import summarize, write_summary
    from harness.running.sweep_cell import finished

    plan = read_plan(folder)
    summary = summarize(plan.cells, plan.folder, command=plan.command)
    summary["missing"] = [c.name for c in plan.cells if not finished(c)]
    summary.update(extra or {})
    write_summary(plan.folder, summary)
    done = len(plan.cells) - len(summary["missing"])
    print(f"sweep: {done} of {len(plan.cells)} cells complete; {plan.folder / 'sweep.md'}",
          file=sys.stderr, flush=True)
    if summary["missing"]:
        print(f"sweep: missing: {', '.join(summary['missing'])}", file=sys.stderr, flush=True)
    return summary


__all__ = ["PLAN_FILE", "PLAN_SCHEMA", "Plan", "write_plan", "read_plan", "spec_from_dict", "run_cell",
           "collect", "run_planned", "record_attempt", "read_attempts"]
