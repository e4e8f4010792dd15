"""One cell of a sweep: its axes, the run it stands for, and whether that run is finished.

Shared by the grid (``harness.running.sweep``) and the plan / cell / collect contract
(``harness.running.sweep_plan``), which both need it and must not import each other back.
"""

from __future__ import annotations

import json
import re

import attrs

from harness.running.experiment import ExperimentSpec

#: spec fields that change how a cell runs, never what it computes
RUN_ONLY = ("progress", "force", "no_cache")


@attrs.frozen(kw_only=True)
class Cell:
    """One point of the grid: its axes' values and the run it stands for."""

    seed: int
    axes: dict[str, str]  # axis name -> value, without the seed (e.g. {"extractor": "logprob"})
    spec: ExperimentSpec

    @property
    def name(self) -> str:
        parts = [f"{k}={v}" for k, v in self.axes.items()] + [f"seed{self.seed}"]
        return "__".join(re.sub(r"[^A-Za-z0-9._=+-]", "_", p) for p in parts)


def finished(cell: Cell) -> bool:
    """The cell's run completed for this very spec (a killed or changed cell is rerun)."""
    try:
        manifest = json.loads((cell.spec.out / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if manifest.get("status") != "complete" or not (cell.spec.out / "report.json").is_file():
        return False
    stored = manifest.get("spec") or {}
    wanted = json.loads(json.dumps(cell.spec.to_dict()))
    defaults = ExperimentSpec().to_dict()  # a field newer than the cell's run had its default then
    # the folder itself is where the cell was found: a sweep folder moved or mounted elsewhere (a
    # cluster's scratch, kept worlds put back) holds the same finished runs
    return all(stored.get(k, defaults.get(k)) == v for k, v in wanted.items() if k not in (*RUN_ONLY, "out"))
