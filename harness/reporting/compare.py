"""``harness compare``: the headline metrics of several run folders in one table (or JSON)."""

from __future__ import annotations

import json
from pathlib import Path

from harness.reporting.markdown import fmt, row_name
from harness.reporting.run_folder import HEADLINE, SIMPLEQA_COLUMNS, load_report


def compare_runs(runs: list[Path], *, as_json: bool = False) -> str:
    reports = [(run, load_report(run)) for run in runs]
    table = []
    for run, report in reports:
        for row in report["rows"]:
            table.append({"run": str(run), "label": row["label"], "calibrator": row.get("calibrator"),
                          "extractor": row["extractor"], "held_out": report["held_out"],
                          "n": (row.get("counts") or {}).get("scored", 0),
                          **{n: row["metrics"].get(n) for n in HEADLINE},
                          "simpleqa": row.get("simpleqa")})
    if as_json:
        return json.dumps(table, indent=2)
    head = "| run | model | extractor | n | " + " | ".join(HEADLINE + SIMPLEQA_COLUMNS) + " |"
    lines = [head, "|" + " --- |" * (4 + len(HEADLINE) + len(SIMPLEQA_COLUMNS))]
    for entry in table:
        held = "" if entry["held_out"] else " (not held-out)"
        sq = entry["simpleqa"] or {}
        lines.append(f"| {entry['run']}{held} | {row_name(entry)} | {entry['extractor']} | {entry['n']} | "
                     + " | ".join([fmt(entry[n]) for n in HEADLINE]
                                  + [fmt({"value": sq.get(n)}) for n in SIMPLEQA_COLUMNS]) + " |")
    return "\n".join(lines)
