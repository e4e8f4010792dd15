"""``harness compare``: the headline metrics of several run folders in one table (or JSON).

The metric columns are ``--metric`` (repeatable) when given, else those the runs were made
with (their ``[report] columns`` setting, ``run_folder.columns_of``), each run's in order; a
plugin metric is a column like any other.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from harness.errors import ParameterError
from harness.reporting.markdown import row_name
from harness.reporting.numbers import fmt
from harness.reporting.run_folder import SIMPLEQA_COLUMNS, columns_of, load_report


def compare_runs(runs: list[Path], *, as_json: bool = False, metrics: Sequence[str] = ()) -> str:
    reports = [(run, load_report(run)) for run in runs]
    columns = list(dict.fromkeys(metrics or [c for _, report in reports for c in columns_of(report)]))
    if metrics:
        have = {n for _, report in reports for row in report["rows"] for n in row["metrics"]}
        missing = [m for m in columns if m not in have]
        if missing:
            raise ParameterError(f"--metric {', '.join(missing)}: in no row of these runs; "
                                 f"they have: {', '.join(sorted(have)) or '(no metric)'}")
    table = []
    for run, report in reports:
        for row in report["rows"]:
            table.append({"run": str(run), "label": row["label"], "calibrator": row.get("calibrator"),
                          "extractor": row["extractor"], "held_out": report["held_out"],
                          "n": (row.get("counts") or {}).get("scored", 0),
                          **{n: row["metrics"].get(n) for n in columns},
                          "simpleqa": row.get("simpleqa")})
    if as_json:
        return json.dumps(table, indent=2)
    head = "| run | model | extractor | n | " + " | ".join([*columns, *SIMPLEQA_COLUMNS]) + " |"
    lines = [head, "|" + " --- |" * (4 + len(columns) + len(SIMPLEQA_COLUMNS))]
    for entry in table:
        held = "" if entry["held_out"] else " (not held-out)"
        sq = entry["simpleqa"] or {}
        lines.append(f"| {entry['run']}{held} | {row_name(entry)} | {entry['extractor']} | {entry['n']} | "
                     + " | ".join([fmt(entry[n]) for n in columns]
                                  + [fmt({"value": sq.get(n)}) for n in SIMPLEQA_COLUMNS]) + " |")
    return "\n".join(lines)
