"""One sweep cell's paired bootstrap replicates of each trainer's changes, from its outcome files.

The second level of the sweep's two-level interval (``seed_statistics.two_level_interval``):
for each comparison of a finished run folder, the replicates of ``metric(trained) - metric(baseline)``
on the examples both scored, drawn as the run drew them (its bootstrap unit, resamples and seed,
its counting rules and metric parameters), so their percentile interval is the run's own CI.
A cell without outcome files (an older version) gives none; the sweep then says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import HarnessError
from harness.machinery import registry
from harness.machinery.config import Config, Layer
from harness.statistics import outcomes as outcome_files
from harness.statistics.bootstrap import draw, replicate_all

_UNDEFINED = (HarnessError, ValueError, ZeroDivisionError, FloatingPointError)


def _counted(run: Path, report: dict[str, Any], label: str, extractor: str) -> outcome_files.Counted | None:
    row = next((r for r in report["rows"] if r["label"] == label and r["extractor"] == extractor
                and not r.get("calibrator")), None)
    if not row or not row.get("outcomes") or not (run / row["outcomes"]).is_file():
        return None
    counting = report.get("counting") or {}
    return outcome_files.count(outcome_files.read(run / row["outcomes"]),
                               not_attempted=counting.get("not_attempted", "incorrect"),
                               missing_confidence=float(counting.get("missing_confidence", 1.0)))


def change_replicates(run: Path, report: dict[str, Any], trainer: str, extractor: str,
                      names: Sequence[str]) -> dict[str, np.ndarray]:
    """``{metric: replicates of trained - baseline}`` for the metrics of ``names`` that can be
    computed (a metric undefined on these data is left out; NaN replicates are kept as NaN)."""
    base, trained = _counted(run, report, "baseline", extractor), _counted(run, report, trainer, extractor)
    if base is None or trained is None:
        return {}
    common = [i for i in base.ids if i in set(trained.ids)]
    if not common:
        return {}
    base, trained = base.select(common), trained.select(common)
    boot = report.get("bootstrap") or {}
    groups = base.groups if boot.get("unit", "group") == "group" else None
    draws = draw(len(common), int(boot.get("resamples", 1000)), int(boot.get("seed", 0)), groups)
    params = {e["name"]: e["params"] for e in (report.get("strategies") or {}).get("metrics", [])}
    config = Config.load().with_layer(Layer(f"metric parameters of {run}", {"metric": params}))
    runs = [(base.confidence, base.correct), (trained.confidence, trained.correct)]
    fns = {}
    for name in names:
        try:
            fns[name] = registry.create("metric", name, config)
        except HarnessError:
            continue
    try:  # all at once: the metrics share each chunk's work (the sorted data)
        reps = replicate_all(fns, runs, draws)
    except _UNDEFINED:  # one at a time: a metric undefined here is left out, the others kept
        reps = {}
        for name, fn in fns.items():
            try:
                reps.update(replicate_all({name: fn}, runs, draws))
            except _UNDEFINED:
                continue
    return {name: r[1] - r[0] for name, r in reps.items()}


__all__ = ["change_replicates"]
