"""The page behind ``harness view``: one self-contained ``report.html`` for run and sweep folders.

A run's page opens with the verdicts at a glance (``glance``: per trainer each criterion's
pass / fail / inconclusive — a verdict's ``outcome``, or from ``passed`` in older run folders —
whether it beats / adds to the post-hoc maps and which map was the bar, the best row by Brier score,
which reading decided, the thresholds), then what ``report.md`` has: metrics with CIs,
SimpleQA's shares, counts, fitted calibrators, changes, criteria, retention and subgroups.

The page needs no network: its CSS and JavaScript are inlined, and its data (every row's
metrics, verdicts, and per-example question, gold answer, model answer, confidence, grade and
judge reply) is one JSON document in a ``<script type="application/json">`` element. The
tables are rendered here with jinja2 (autoescaped); the reliability diagrams (axis titles, each
bin's count; a clicked bin's answers listed just after its diagram, each beside the baseline's
answer to the same question) and the per-example browser are drawn in the browser from that
JSON, putting every text in with ``textContent``, never as HTML. Questions, answers and judge
replies are untrusted text.

A sweep folder gets its table and a page per finished cell (``cells/<cell>/report.html``),
linked from it. ``harness.reporting.view_server`` serves the result.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from harness.artifacts import read_jsonl, write_text_atomic
from harness.errors import InputError
from harness.reporting.markdown import best_row
from harness.reporting.numbers import fmt, number
from harness.reporting.run_folder import headline, load_report
from harness.reporting.sweep_summary import METHODS, load_sweep, outcome_of, pair_text, tally_text
from harness.statistics import outcomes as outcome_files
from harness.statistics.simpleqa_metrics import NAMES as SIMPLEQA_NAMES

PAGE = "report.html"
#: the paired changes a sweep's table shows
CHANGES = ("accuracy", "rms_calib_err", "ece", "brier", "auroc")


def _stage_folder(run: Path, report: dict[str, Any], row: dict[str, Any]) -> Path:
    evaluated = report["split"]["evaluated"]
    if row["label"] == "baseline":
        return run / "baseline" / row["extractor"] / evaluated
    return run / "trained" / row["label"] / evaluated


def _by_id(path: Path) -> dict[str, dict[str, Any]]:
    return {str(r.get("example_id")): r for r in read_jsonl(path).rows} if path.is_file() else {}


def _examples(run: Path) -> dict[str, list[Any]]:
    """id -> [question, gold answer, subgroup]; an older run without examples.jsonl gets none."""
    path = run / "examples.jsonl"
    if not path.is_file():
        return {}
    return {str(r["id"]): [r.get("question", ""), r.get("answer", ""), r.get("subgroup")]
            for r in read_jsonl(path).rows}


def run_data(run: Path) -> dict[str, Any]:
    """Everything the page shows of one run folder, as JSON-native data."""
    report = load_report(run)
    counting = report.get("counting") or {}
    stages: dict[str, dict[str, list[Any]]] = {}
    rows = []
    for row in report["rows"]:
        stage = _stage_folder(run, report, row)
        key = str(stage.relative_to(run))
        if key not in stages:
            predictions = _by_id(stage / "predictions.jsonl")
            judgments = _by_id(stage / "judgments.jsonl")
            generations = {} if predictions else _by_id(stage / "generations.jsonl")
            ids = set(predictions) | set(judgments) | set(generations)
            stages[key] = {i: [(predictions.get(i) or judgments.get(i) or {}).get("answer"),
                               (judgments.get(i) or {}).get("raw"),
                               (generations.get(i) or {}).get("prompt")] for i in ids}
        items: list[list[Any]] = []
        if row.get("outcomes") and (run / row["outcomes"]).is_file():
            found = outcome_files.read(run / row["outcomes"])
            counted = outcome_files.count(found, not_attempted=counting.get("not_attempted", "incorrect"),
                                          missing_confidence=float(counting.get("missing_confidence", 1.0)))
            scored = dict(zip(counted.ids, counted.confidence.tolist(), strict=True))
            items = [[o.example_id, o.confidence, o.grade, scored.get(o.example_id), o.subgroup]
                     for o in found]
        rows.append({"title": row["label"] + (f" + {row['calibrator']}" if row.get("calibrator") else ""),
                     "extractor": row["extractor"], "key": row.get("key"), "stage": key, "items": items})
    return {"name": str(run), "report": report, "examples": _examples(run), "stages": stages, "rows": rows}


def reading(report: dict[str, Any]) -> str:
    """Which reading decided the verdicts: the stored reading, or what the thresholds and verdicts show."""
    thresholds = report.get("thresholds") or {}
    if thresholds.get("reading"):
        return str(thresholds["reading"])
    if thresholds.get("point"):
        return "point estimates (--point): the intervals did not decide"
    verdicts = [v for c in report.get("comparisons") or [] for v in c.get("criteria") or []]
    if any("outcome" in v for v in verdicts):
        return "paired 95% bootstrap CIs: pass, fail or inconclusive by where the interval lies"
    if thresholds.get("strict"):
        return "the paired 95% CI's unfavourable bound (strict)"
    return "point estimates (made before verdicts were three-valued; strict off)"


def _at_risk(result: dict[str, Any]) -> str:
    """A row's ``coverage_at_risk`` in one line (``harness.statistics.abstention.describe``)."""
    from harness.statistics.abstention import describe

    return describe(result)


def glance(report: dict[str, Any]) -> dict[str, Any]:
    """The verdicts at a glance: per trainer each criterion's outcome (pass / fail / inconclusive),
    the whole, whether it beats / adds to the best post-hoc map (and which map), the best row by Brier score
    row and which reading decided."""
    metric = (report.get("thresholds") or {}).get("metric", "rms_calib_err")
    criteria = list(dict.fromkeys(v["name"] for c in report.get("comparisons") or [] for v in c["criteria"]))
    trainers = []
    for comp in report.get("comparisons") or []:
        by_name = {v["name"]: v for v in comp["criteria"]}
        posthoc = {}
        for name in ("beats_posthoc", "adds_to_posthoc"):
            verdict = comp.get(name)
            if verdict is not None:
                against = verdict.get("against") or ", ".join(
                    f"{p['calibrator']}" for p in verdict.get("per_calibrator") or [])
                posthoc[name] = {"outcome": outcome_of(verdict), "against": against,
                                 "detail": verdict.get("detail") or verdict.get("error") or ""}
        trainers.append({"trainer": comp["trainer"], "extractor": comp["extractor"],
                         "outcome": outcome_of(comp), "required": list(comp.get("required") or ()),
                         "criteria": {n: {"outcome": outcome_of(v), "detail": v.get("detail", "")}
                                      for n, v in by_name.items()}, **posthoc})
    return {"criteria": criteria, "trainers": trainers, "best": best_row(report),
            "reading": reading(report), "metric": metric}


def _json_for_script(data: Any) -> str:
    """JSON that cannot end its ``<script>`` element or start markup, whatever the strings hold."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for char, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


def _asset(name: str) -> str:
    return resources.files("harness.reporting").joinpath("view_assets", name).read_text(encoding="utf-8")


def _fmt(entry: dict[str, Any] | None, signed: bool = False) -> str:
    return fmt(entry, signed=signed)


def _arrow(values: Sequence[float | None] | None) -> str:
    return " → ".join(number(v) for v in values or ())


def _fitted(fit: dict[str, Any]) -> str:
    from harness.statistics.posthoc import fitted_summary

    return fitted_summary(fit)


def render(runs: Sequence[dict[str, Any]], sweeps: Sequence[dict[str, Any]], title: str) -> str:
    """The page's HTML for run data (``run_data``) and sweep summaries (with ``links`` to cells)."""
    import jinja2

    env = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["fmt"] = _fmt
    env.filters["tally"] = tally_text
    env.filters["pair"] = pair_text
    env.filters["fitted"] = _fitted
    env.filters["arrow"] = _arrow
    env.filters["at_risk"] = _at_risk
    env.globals["glance"] = glance
    env.globals["outcome_of"] = outcome_of
    template = env.from_string(_asset("page.html.j2"))
    names = [n for n in headline() if any(n in r["metrics"] for run in runs
                                        for r in (run["report"] or {}).get("rows", []))]
    return template.render(
        title=title, runs=runs, sweeps=sweeps, headline=names, all_headline=headline(),
        change_names=CHANGES, simpleqa_names=SIMPLEQA_NAMES, methods=METHODS,
        css=_asset("page.css"), js=_asset("page.js"),
        data=_json_for_script({"runs": [{k: run[k] for k in ("name", "examples", "stages", "rows")}
                                        for run in runs]}),
    )


def write_page(folders: Sequence[Path], out: Path | None = None) -> Path:
    """Write ``report.html`` for run and sweep ``folders`` (and each sweep cell's page); return its path."""
    runs, sweeps = [], []
    page = Path(out) if out else Path(folders[0]) / PAGE
    for folder in (Path(f) for f in folders):
        if not folder.is_dir():
            raise InputError(f"{folder}: no such run or sweep folder")
        sweep = load_sweep(folder)
        if sweep is not None:
            links, cells = _cell_pages(folder, sweep)
            # the cells' pages as seen from where the page is written (--out may be elsewhere)
            links = {name: Path(os.path.relpath(os.path.abspath(folder / link), os.path.abspath(page.parent)))
                     .as_posix() for name, link in links.items()}
            sweeps.append({"name": str(folder), "summary": sweep, "links": links})
            if cells:
                runs.append(pool(f"sweep {folder}: every cell, pooled", cells))
        elif (folder / "report.json").is_file():
            runs.append(run_data(folder))
        else:
            raise InputError(f"{folder}: not a run folder (no report.json) "
                             "nor a sweep folder (no sweep.json)")
    title = "harness view: " + ", ".join(str(f) for f in folders)
    write_text_atomic(page, render(runs, sweeps, title))
    return page


def _cell_pages(folder: Path, sweep: dict[str, Any]) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """Write a page for each finished cell of a sweep; return cell name -> its page (relative to
    ``folder``) and cell name -> its run data."""
    links, cells = {}, {}
    for cell in sweep["cells"]:
        cell_folder = folder / cell["folder"]
        if cell["status"] == "complete" and (cell_folder / "report.json").is_file():
            cells[cell["name"]] = data = run_data(cell_folder)
            write_text_atomic(cell_folder / PAGE, render([data], [], f"harness view: {cell['name']}"))
            links[cell["name"]] = f"{cell['folder']}/{PAGE}"
    return links, cells


def pool(name: str, cells: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The cells' rows pooled per strategy (title, extractor and the cell's axes without the seed);
    each example's id is prefixed with its cell's name, so the browser tells them apart."""
    examples: dict[str, list[Any]] = {}
    stages: dict[str, dict[str, list[Any]]] = {}
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for cell, data in cells.items():
        axes = cell.rpartition("seed")[0].rstrip("_")
        examples.update({f"{cell}/{i}": e for i, e in data["examples"].items()})
        for row in data["rows"]:
            stage = f"{cell}/{row['stage']}"
            stages[stage] = {f"{cell}/{i}": v for i, v in data["stages"][row["stage"]].items()}
            title = f"{row['title']} ({axes})" if axes else row["title"]
            slot = rows.setdefault((title, row["extractor"], axes), {
                "title": title, "extractor": row["extractor"], "key": row["key"], "stage": None, "items": []})
            slot["items"] += [[f"{cell}/{it[0]}", *it[1:], stage] for it in row["items"]]
    return {"name": name, "report": None, "examples": examples, "stages": stages, "rows": list(rows.values())}


__all__ = ["PAGE", "run_data", "render", "write_page"]
