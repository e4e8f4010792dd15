"""``sweep.json`` and ``sweep.md``: what a sweep's cells say together, per strategy, across seeds.

A **strategy** is one report row (``baseline``, ``baseline + temperature``, a trainer, ...) or
one trainer's comparison, at one point of the grid's other axes (extractor, multi-valued
parameters). Across its seeds (the statistics: ``harness.statistics.seed_statistics``) it gets

- for each metric of a row, the mean and a 95% interval of the mean: a t-interval on the log
  scale of the mean (delta method) when no seed's value is negative — a calibration error's
  interval never goes below zero — else a plain t-interval (``method`` says which; none for one seed);
- for each paired change of a headline metric, the mean and a two-level interval (seeds x
  bootstrap: resample the seeds, then within each seed one of its paired bootstrap replicates,
  recomputed from the cell's outcome files by ``harness.statistics.seed_replicates``); a t-interval for
  the other metrics and where a cell's outcome files are missing;
- for each criterion and post-hoc verdict, the count of pass / fail / inconclusive (a verdict's
  ``outcome``, or from ``passed`` in older run folders), the cells not yet complete, and the pass
  rate with its exact binomial (Clopper-Pearson) interval;
- between every two trainers at one point of the grid, a paired sign-flip permutation test
  across their shared seeds of the change in the criteria's calibration metric (exact over
  all 2^seeds sign patterns up to 16 seeds), Holm-adjusted over the pairs: a trainer is named
  better only when its adjusted p-value is below 0.05.

``sweep.json`` (``"schema": "calibration-harness/sweep/v2"``): ``command`` (the sweep's
options), ``axes`` (names of the grid's axes besides the seed), ``cells`` (``name``, ``seed``,
``axes``, ``folder`` relative to the sweep, ``status``), ``metric`` (the criteria's calibration
metric), ``rows`` (``axes``, ``row``, ``extractor``, ``seeds``,
``metrics: {name: {"mean", "ci", "values", "method"}}``), ``comparisons`` (``axes``,
``trainer``, ``extractor``, ``seeds``, ``seeds_with`` (per metric, the seeds of its values),
``changes`` shaped like ``metrics``, ``criteria: {name: {"pass", "fail", "inconclusive", "n",
"incomplete", "passed", "rate", "ci"}}``, ``passed``, ``beats_posthoc``, ``adds_to_posthoc``
shaped like a criterion, ``against``: {the post-hoc bar's row: in how many seeds}), ``tests``
(``axes``, ``a``, ``b``, ``metric``, ``seeds``, ``mean_difference`` (a minus b), ``p``,
``exact``, ``patterns``, ``p_holm``, ``better``: a trainer or null). ``harness.running.sweep_plan``'s
collect adds ``missing`` (the cells not complete) and a sweep that ran its cells ``wall_seconds``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.artifacts import write_json_atomic, write_text_atomic
from harness.errors import HarnessError
from harness.reporting.numbers import fmt, number
from harness.reporting.run_folder import headline, load_report
from harness.statistics.criteria import OUTCOMES
from harness.statistics.criteria import verdict_outcome as outcome_of
from harness.statistics.seed_statistics import (
    clopper_pearson,
    holm,
    positive_mean_interval,
    sign_flip_test,
    t_interval,
    two_level_interval,
)

SCHEMA = "calibration-harness/sweep/v2"
#: older summaries the view still reads (their pass-rate entries have ``passed`` and ``n`` only)
READABLE = (SCHEMA, "calibration-harness/sweep/v1")
ALPHA = 0.05  # a trainer is named better only when its Holm-adjusted p-value is below this
#: digits of a pass rate (a share of seeds) and of a paired test's p-values and mean difference,
#: which harness.reporting.numbers prints like every figure
RATE_DIGITS = 2
P_DIGITS = 4


def mean_ci(values: Sequence[float]) -> dict[str, Any]:
    """Mean and 95% interval of the mean of ``values`` (``ci`` None for fewer than two): a t-interval
    on the log scale of the mean when no value is negative (never below zero), else a plain one."""
    n = len(values)
    if n == 0:
        return {"mean": None, "ci": None, "values": []}
    mean = sum(values) / n
    if n < 2:
        return {"mean": mean, "ci": None, "values": list(values)}
    non_negative = all(v >= 0 for v in values)
    ci = positive_mean_interval(values) if non_negative else t_interval(values)
    return {"mean": mean, "ci": ci, "values": list(values), "method": "log-scale t" if non_negative else "t"}


def change_ci(values: Sequence[float], replicates: Sequence[Any] | None) -> dict[str, Any]:
    """Mean change over seeds and its two-level (seeds x bootstrap) interval; a t-interval where a
    seed's replicates could not be recomputed (an older run folder)."""
    entry = {"mean": sum(values) / len(values) if values else None, "values": list(values)}
    if replicates is not None and len(replicates) == len(values):
        return {**entry, "ci": two_level_interval(replicates), "method": "seeds x bootstrap"}
    return {**entry, "ci": t_interval(values), "method": "t"}


def tally(outcomes: Sequence[str], incomplete: int = 0) -> dict[str, Any]:
    """Counts of pass / fail / inconclusive, cells not yet complete, and the pass rate with its exact
    binomial (Clopper-Pearson) 95% interval."""
    n = len(outcomes)
    counts = {o: sum(x == o for x in outcomes) for o in OUTCOMES}
    return {**counts, "n": n, "incomplete": incomplete, "passed": counts["pass"],
            "rate": counts["pass"] / n if n else None, "ci": clopper_pearson(counts["pass"], n)}


def trainer_tests(comparisons: Sequence[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """Every pair of trainers at one point of the grid, on the seeds both have: the paired
    sign-flip permutation test of their per-seed change in ``metric`` (lower is better), with
    Holm-adjusted p-values over the pairs; ``better`` names a trainer only below ``ALPHA``."""
    by_axes: dict[str, list[dict[str, Any]]] = {}
    for comp in comparisons:
        by_axes.setdefault(json.dumps(comp["axes"], sort_keys=True), []).append(comp)
    tests = []
    for family in by_axes.values():
        found = []
        for a, b in itertools.combinations(family, 2):
            sa, sb = _by_seed(a, metric), _by_seed(b, metric)
            seeds = [s for s in sa if s in sb]
            if len(seeds) < 2:
                continue
            diffs = [sa[s] - sb[s] for s in seeds]
            test = sign_flip_test(diffs)
            found.append({"axes": a["axes"], "a": f"{a['trainer']} ({a['extractor']})",
                          "b": f"{b['trainer']} ({b['extractor']})", "metric": metric, "seeds": seeds,
                          "mean_difference": sum(diffs) / len(diffs), "p": test["p"],
                          "exact": test["exact"], "patterns": test["patterns"]})
        for test, adjusted in zip(found, holm([t["p"] for t in found]), strict=True):
            better = None
            if adjusted < ALPHA:
                better = test["a"] if test["mean_difference"] < 0 else test["b"]
            tests.append({**test, "p_holm": adjusted, "better": better})
    return tests


def _by_seed(comp: dict[str, Any], metric: str) -> dict[int, float]:
    values = (comp["changes"].get(metric) or {}).get("values") or []
    return dict(zip(comp["seeds_with"].get(metric, []), values, strict=True))


def summarize(cells: Sequence[Any], out: Path, *, command: dict[str, Any]) -> dict[str, Any]:
    """Read every cell's ``report.json`` and aggregate it per strategy across seeds."""
    from harness.statistics.seed_replicates import change_replicates

    listed, rows, comps = [], {}, {}
    axes_names: list[str] = []
    metric = "rms_calib_err"
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
        metric = (report.get("thresholds") or {}).get("metric", metric)
        where = json.dumps(cell.axes, sort_keys=True)
        for row in report["rows"]:
            name = row["label"] + (f" + {row['calibrator']}" if row.get("calibrator") else "")
            slot = rows.setdefault((where, name, row["extractor"]), {"seeds": [], "metrics": {}})
            slot["seeds"].append(cell.seed)
            for name_, value in row["metrics"].items():
                if (value or {}).get("value") is not None:
                    slot["metrics"].setdefault(name_, []).append(value["value"])
        for comp in report["comparisons"]:
            slot = comps.setdefault((where, comp["trainer"], comp["extractor"]),
                                    {"seeds": [], "changes": {}, "seeds_with": {}, "replicates": {},
                                     "criteria": {}, "verdicts": {}, "against": []})
            slot["seeds"].append(cell.seed)
            diffs = {m: c["diff"] for m, c in comp["changes"].items() if c.get("diff") is not None}
            reps = change_replicates(folder, report, comp["trainer"], comp["extractor"],
                                     [m for m in headline() if m in diffs])
            for name_, diff in diffs.items():
                slot["changes"].setdefault(name_, []).append(diff)
                slot["seeds_with"].setdefault(name_, []).append(cell.seed)
                slot["replicates"].setdefault(name_, []).append(reps.get(name_))
            for verdict in comp["criteria"]:
                slot["criteria"].setdefault(verdict["name"], []).append(outcome_of(verdict))
            slot["verdicts"].setdefault("passed", []).append(outcome_of(comp))
            for name_ in ("beats_posthoc", "adds_to_posthoc"):
                if comp.get(name_) is not None:
                    slot["verdicts"].setdefault(name_, []).append(outcome_of(comp[name_]))
            if (comp.get("beats_posthoc") or {}).get("against"):
                slot["against"].append(comp["beats_posthoc"]["against"])
    waiting: dict[str, int] = {}
    for cell in listed:
        if cell["status"] != "complete":
            key = json.dumps(cell["axes"], sort_keys=True)
            waiting[key] = waiting.get(key, 0) + 1
    comparisons = []
    for (w, trainer, ext), s in comps.items():
        changes = {}
        for name_, values in _ordered(s["changes"]).items():
            reps = s["replicates"][name_]
            changes[name_] = change_ci(values, None if any(r is None for r in reps) else reps)
        comparisons.append({
            "axes": json.loads(w), "trainer": trainer, "extractor": ext, "seeds": s["seeds"],
            "seeds_with": s["seeds_with"], "changes": changes,
            "criteria": {c: tally(f, waiting.get(w, 0)) for c, f in s["criteria"].items()},
            **{k: tally(f, waiting.get(w, 0)) for k, f in s["verdicts"].items()},
            "against": dict(sorted({a: s["against"].count(a) for a in s["against"]}.items()))})
    return {
        "schema": SCHEMA, "command": command, "axes": axes_names, "cells": listed, "metric": metric,
        "rows": [{"axes": json.loads(w), "row": name, "extractor": ext, "seeds": s["seeds"],
                  "metrics": {m: mean_ci(v) for m, v in _ordered(s["metrics"]).items()}}
                 for (w, name, ext), s in rows.items()],
        "comparisons": comparisons,
        "tests": trainer_tests(comparisons, metric),
    }


def _ordered(values: dict[str, list[float]]) -> dict[str, list[float]]:
    """The headline metrics first, in the report's order, then the rest by name."""
    names = [n for n in headline() if n in values] + sorted(set(values) - set(headline()))
    return {n: values[n] for n in names}


def _cell(entry: dict[str, Any] | None, signed: bool = False) -> str:
    return fmt({"mean": entry.get("mean"), "ci": entry.get("ci")} if entry else None, signed=signed)


def _axes_text(axes: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in axes.items()) or "-"


def tally_text(entry: dict[str, Any] | None) -> str:
    """``2 pass, 1 fail, 0 inconclusive of 3 (+1 incomplete): 0.67 [0.09, 0.99]``; an older
    summary's entry (``passed`` and ``n`` only) reads ``2/3``."""
    if entry is None:
        return "n/a"
    if "pass" not in entry:
        return f"{entry['passed']}/{entry['n']}"
    text = f"{entry['pass']} pass, {entry['fail']} fail, {entry['inconclusive']} inconclusive of {entry['n']}"
    if entry.get("incomplete"):
        text += f" (+{entry['incomplete']} incomplete)"
    if entry.get("ci"):
        text += f": {fmt({'value': entry['rate'], 'ci': entry['ci']}, RATE_DIGITS)}"
    return text


def pair_text(test: dict[str, Any]) -> str:
    """One paired test between two trainers, naming the test and both p-values."""
    how = (f"exact over all {test['patterns']} sign patterns" if test["exact"]
           else f"{test['patterns']} random sign patterns")
    verdict = (f"{test['better']} is better" if test["better"]
               else f"no difference shown at Holm-adjusted p < {ALPHA}")
    return (f"{test['a']} minus {test['b']}: mean difference of the change in {test['metric']} "
            f"{number(test['mean_difference'], P_DIGITS, signed=True)} over seeds "
            f"{', '.join(map(str, test['seeds']))}; sign-flip permutation test ({how}) p = "
            f"{number(test['p'], P_DIGITS)}, Holm-adjusted p = {number(test['p_holm'], P_DIGITS)}: {verdict}")


METHODS = ("- metrics: mean over seeds [95% interval of the mean: a t-interval on the log scale "
           "(delta method) when no seed's value is negative, so never below zero; else a plain "
           "t-interval; the t quantile is exact for every df]",
           "- changes: mean over seeds [95% two-level interval: resample the seeds, then within each "
           "its own paired bootstrap replicate; a t-interval where a cell's outcome files are missing]",
           "- verdicts: pass / fail / inconclusive counted separately; pass rate [exact binomial "
           "(Clopper-Pearson) 95% interval]")


def render_markdown(summary: dict[str, Any]) -> str:
    """The sweep's tables: cells, per-row metrics, per-trainer changes, verdict counts and tests."""
    cmd = summary["command"]
    seeds = cmd.get("seeds", [])
    lines = [f"# Sweep: {cmd.get('task')} on {cmd.get('model')}", "",
             f"- seeds: {', '.join(map(str, seeds))} ({len(seeds)}); cells: {len(summary['cells'])}",
             f"- trainers: {', '.join(cmd.get('trainers') or []) or 'none'}; "
             f"calibrators: {', '.join(cmd.get('calibrators') or []) or 'none'}",
             f"- grid axes besides the seed: {', '.join(summary['axes']) or 'none'}", *METHODS, ""]
    missing = [c for c in summary["cells"] if c["status"] != "complete"]
    if missing:
        lines += [f"**{len(missing)} cell(s) without a report (not yet complete):** "
                  + ", ".join(c["name"] for c in missing), ""]
    names = [n for n in headline() if any(n in r["metrics"] for r in summary["rows"])]
    lines += ["## Metrics", "", "| axes | model | extractor | seeds | " + " | ".join(names) + " |",
              "|" + " --- |" * (4 + len(names))]
    for row in summary["rows"]:
        lines.append(f"| {_axes_text(row['axes'])} | {row['row']} | {row['extractor']} | "
                     f"{len(row['seeds'])} | " + " | ".join(_cell(row["metrics"].get(n)) for n in names)
                     + " |")
    if summary["comparisons"]:
        changed = [n for n in headline() if any(n in c["changes"] for c in summary["comparisons"])]
        lines += ["", "## Changes (trained minus baseline, paired per seed)", "",
                  "| axes | trainer | extractor | seeds | " + " | ".join(changed) + " |",
                  "|" + " --- |" * (4 + len(changed))]
        for comp in summary["comparisons"]:
            lines.append(f"| {_axes_text(comp['axes'])} | {comp['trainer']} | {comp['extractor']} | "
                         f"{len(comp['seeds'])} | " + " | ".join(_cell(comp["changes"].get(n), True)
                                                                 for n in changed) + " |")
        criteria = list(dict.fromkeys(c for comp in summary["comparisons"] for c in comp["criteria"]))
        verdicts = ["passed", "beats_posthoc", "adds_to_posthoc"]
        lines += ["", "## Verdicts across seeds (pass / fail / inconclusive; pass rate [Clopper-Pearson])",
                  "",
                  "| axes | trainer | verdict | seeds |", "| --- | --- | --- | --- |"]
        for comp in summary["comparisons"]:
            for name in criteria + verdicts:
                entry = comp["criteria"].get(name) if name in criteria else comp.get(name)
                label = {"passed": "all criteria"}.get(name, name)
                if name == "beats_posthoc" and comp.get("against"):
                    label += " (bar: " + ", ".join(f"{k} in {v}" for k, v in comp["against"].items()) + ")"
                lines.append(f"| {_axes_text(comp['axes'])} | {comp['trainer']} | {label} | "
                             f"{tally_text(entry)} |")
        lines += ["", "## Trainers compared (paired across the same seeds, change in "
                  f"{summary.get('metric')})", ""]
        tests = summary.get("tests") or []
        lines += [f"- {pair_text(t)}" for t in tests] or ["- fewer than two trainers with two shared seeds: "
                                                           "no trainer is named better"]
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
    return data if isinstance(data, dict) and data.get("schema") in READABLE else None
