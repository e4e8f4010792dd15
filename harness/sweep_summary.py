"""``sweep.json`` and ``sweep.md``: what a sweep's cells say together, per strategy, across seeds.

A **strategy** is one report row (``baseline``, ``baseline + temperature``, a trainer, ...) or
one trainer's comparison, at one point of the grid's other axes (extractor, multi-valued
parameters). Across its seeds it gets, for each headline metric and each paired change, the
mean and a 95% Student-t interval of that mean (``mean ± t · sd / √n``; none for one seed),
and for each success criterion its pass rate.

``sweep.json`` (``"schema": "calibration-harness/sweep/v1"``): ``command`` (the sweep's
options), ``axes`` (names of the grid's axes besides the seed), ``cells`` (``name``, ``seed``,
``axes``, ``folder`` relative to the sweep, ``status``), ``rows`` (``axes``, ``row``,
``extractor``, ``seeds``, ``metrics: {name: {"mean", "ci", "values"}}``), ``comparisons``
(``axes``, ``trainer``, ``extractor``, ``seeds``, ``changes`` shaped like ``metrics``,
``criteria: {name: {"passed", "n", "rate"}}``, and ``passed``, ``beats_posthoc``,
``adds_to_posthoc`` shaped like a criterion).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.artifacts import write_json_atomic, write_text_atomic
from harness.errors import HarnessError
from harness.report import HEADLINE, load_report

SCHEMA = "calibration-harness/sweep/v1"
#: two-sided 95% Student-t quantiles by degrees of freedom (beyond 30: the normal's 1.96)
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042)


def mean_ci(values: Sequence[float]) -> dict[str, Any]:
    """Mean and 95% t-interval of the mean of ``values`` (``ci`` None for fewer than two)."""
    n = len(values)
    if n == 0:
        return {"mean": None, "ci": None, "values": []}
    mean = sum(values) / n
    if n < 2:
        return {"mean": mean, "ci": None, "values": list(values)}
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = (_T95[n - 2] if n - 2 < len(_T95) else 1.96) * sd / math.sqrt(n)
    return {"mean": mean, "ci": [mean - half, mean + half], "values": list(values)}


def _rate(flags: Sequence[bool]) -> dict[str, Any]:
    return {"passed": sum(flags), "n": len(flags), "rate": sum(flags) / len(flags) if flags else None}


def summarize(cells: Sequence[Any], out: Path, *, command: dict[str, Any]) -> dict[str, Any]:
    """Read every cell's ``report.json`` and aggregate it per strategy across seeds."""
    listed, rows, comps = [], {}, {}
    axes_names: list[str] = []
    for cell in cells:
        axes_names += [a for a in cell.axes if a not in axes_names]
        folder = cell.spec.out
        entry = {"name": cell.name, "seed": cell.seed, "axes": cell.axes,
                 "folder": str(folder.relative_to(out)) if folder.is_relative_to(out) else str(folder)}
        try:
            report = load_report(folder)
        except HarnessError as exc:  # a cell that did not finish is listed, not fatal
            listed.append({**entry, "status": f"missing ({exc})"})
            continue
        listed.append({**entry, "status": "complete"})
        where = json.dumps(cell.axes, sort_keys=True)
        for row in report["rows"]:
            name = row["label"] + (f" + {row['calibrator']}" if row.get("calibrator") else "")
            slot = rows.setdefault((where, name, row["extractor"]), {"seeds": [], "metrics": {}})
            slot["seeds"].append(cell.seed)
            for metric, value in row["metrics"].items():
                if (value or {}).get("value") is not None:
                    slot["metrics"].setdefault(metric, []).append(value["value"])
        for comp in report["comparisons"]:
            slot = comps.setdefault((where, comp["trainer"], comp["extractor"]),
                                    {"seeds": [], "changes": {}, "criteria": {}, "verdicts": {}})
            slot["seeds"].append(cell.seed)
            for metric, change in comp["changes"].items():
                if change.get("diff") is not None:
                    slot["changes"].setdefault(metric, []).append(change["diff"])
            for verdict in comp["criteria"]:
                slot["criteria"].setdefault(verdict["name"], []).append(bool(verdict["passed"]))
            slot["verdicts"].setdefault("passed", []).append(bool(comp["passed"]))
            for name in ("beats_posthoc", "adds_to_posthoc"):
                if comp.get(name) is not None:
                    slot["verdicts"].setdefault(name, []).append(bool(comp[name]["passed"]))
    return {
        "schema": SCHEMA, "command": command, "axes": axes_names, "cells": listed,
        "rows": [{"axes": json.loads(w), "row": name, "extractor": ext, "seeds": s["seeds"],
                  "metrics": {m: mean_ci(v) for m, v in _ordered(s["metrics"]).items()}}
                 for (w, name, ext), s in rows.items()],
        "comparisons": [{"axes": json.loads(w), "trainer": trainer, "extractor": ext, "seeds": s["seeds"],
                         "changes": {m: mean_ci(v) for m, v in _ordered(s["changes"]).items()},
                         "criteria": {c: _rate(f) for c, f in s["criteria"].items()},
                         **{k: _rate(f) for k, f in s["verdicts"].items()}}
                        for (w, trainer, ext), s in comps.items()],
    }


def _ordered(values: dict[str, list[float]]) -> dict[str, list[float]]:
    """The headline metrics first, in the report's order, then the rest by name."""
    names = [n for n in HEADLINE if n in values] + sorted(set(values) - set(HEADLINE))
    return {n: values[n] for n in names}


def _cell(entry: dict[str, Any] | None, signed: bool = False) -> str:
    if not entry or entry.get("mean") is None:
        return "n/a"
    form = "{:+.3f}" if signed else "{:.3f}"
    text = form.format(entry["mean"])
    if entry.get("ci"):
        text += " [" + ", ".join(form.format(v) for v in entry["ci"]) + "]"
    return text


def _axes_text(axes: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in axes.items()) or "-"


def render_markdown(summary: dict[str, Any]) -> str:
    """The sweep's tables: cells, per-row metrics, per-trainer changes and criteria pass rates."""
    cmd = summary["command"]
    seeds = cmd.get("seeds", [])
    lines = [f"# Sweep: {cmd.get('task')} on {cmd.get('model')}", "",
             f"- seeds: {', '.join(map(str, seeds))} ({len(seeds)}); cells: {len(summary['cells'])}",
             f"- trainers: {', '.join(cmd.get('trainers') or []) or 'none'}; "
             f"calibrators: {', '.join(cmd.get('calibrators') or []) or 'none'}",
             f"- grid axes besides the seed: {', '.join(summary['axes']) or 'none'}",
             "- every number: mean over seeds [95% t-interval of the mean]", ""]
    missing = [c for c in summary["cells"] if c["status"] != "complete"]
    if missing:
        lines += [f"**{len(missing)} cell(s) without a report:** "
                  + ", ".join(c["name"] for c in missing), ""]
    names = [n for n in HEADLINE if any(n in r["metrics"] for r in summary["rows"])]
    lines += ["## Metrics", "", "| axes | model | extractor | seeds | " + " | ".join(names) + " |",
              "|" + " --- |" * (4 + len(names))]
    for row in summary["rows"]:
        lines.append(f"| {_axes_text(row['axes'])} | {row['row']} | {row['extractor']} | "
                     f"{len(row['seeds'])} | " + " | ".join(_cell(row["metrics"].get(n)) for n in names)
                     + " |")
    if summary["comparisons"]:
        changed = [n for n in HEADLINE if any(n in c["changes"] for c in summary["comparisons"])]
        lines += ["", "## Changes (trained minus baseline, paired per seed)", "",
                  "| axes | trainer | extractor | seeds | " + " | ".join(changed) + " |",
                  "|" + " --- |" * (4 + len(changed))]
        for comp in summary["comparisons"]:
            lines.append(f"| {_axes_text(comp['axes'])} | {comp['trainer']} | {comp['extractor']} | "
                         f"{len(comp['seeds'])} | " + " | ".join(_cell(comp["changes"].get(n), True)
                                                                 for n in changed) + " |")
        criteria = list(dict.fromkeys(c for comp in summary["comparisons"] for c in comp["criteria"]))
        verdicts = ["passed", "beats_posthoc", "adds_to_posthoc"]
        lines += ["", "## Pass rates across seeds", "",
                  "| axes | trainer | " + " | ".join(criteria + ["all criteria", *verdicts[1:]]) + " |",
                  "|" + " --- |" * (2 + len(criteria) + len(verdicts))]
        for comp in summary["comparisons"]:
            cells = [comp["criteria"].get(c) for c in criteria] + [comp.get(v) for v in verdicts]
            lines.append(f"| {_axes_text(comp['axes'])} | {comp['trainer']} | "
                         + " | ".join("n/a" if c is None else f"{c['passed']}/{c['n']}" for c in cells)
                         + " |")
    lines += ["", "## Cells", "", "| cell | seed | status |", "| --- | --- | --- |"]
    lines += [f"| [{c['name']}]({c['folder']}/report.md) | {c['seed']} | {c['status']} |"
              for c in summary["cells"]]
    return "\n".join(lines) + "\n"


def write_summary(out: Path, summary: dict[str, Any]) -> None:
    write_json_atomic(out / "sweep.json", summary)
    write_text_atomic(out / "sweep.md", render_markdown(summary))


def load_sweep(folder: Path) -> dict[str, Any] | None:
    """The ``sweep.json`` of ``folder``, or None when it is no sweep folder."""
    path = Path(folder) / "sweep.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    return data if isinstance(data, dict) and data.get("schema") == SCHEMA else None
