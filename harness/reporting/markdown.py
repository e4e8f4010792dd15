"""report.md and the terminal's summary of a report: ``render_markdown``, ``summary_table``,
``glance``; ``row_name`` names a row the same way everywhere, and every figure goes through
``harness.reporting.numbers`` (``fmt`` is re-exported here)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from harness.reporting.numbers import fmt, number
from harness.reporting.run_folder import columns_of, headline
from harness.statistics.criteria import verdict_outcome


def row_name(row: dict[str, Any]) -> str:
    return row["label"] + (f" + {row['calibrator']}" if row.get("calibrator") else "")


#: how each outcome reads in the tables at a glance
SHOWN = {"pass": "pass", "fail": "FAIL", "inconclusive": "inconclusive"}


def _posthoc_cell(verdict: dict[str, Any] | None) -> str:
    outcome = verdict_outcome(verdict)
    if outcome is None or verdict is None:
        return "n/a (no post-hoc rows)"
    against = verdict.get("against")
    return SHOWN[outcome] + (f" vs {against}" if against else "")


#: what names the best row: a proper score (calibration error alone ranks a constant first)
BEST_BY = "brier"


def best_row(report: dict[str, Any]) -> dict[str, Any] | None:
    """The row with the lowest Brier score — a proper score, so calibration and resolution together:
    ranked by calibration error alone, the base-rate constant (one confidence for every answer)
    would come first. Its title, extractor, Brier value and CI, the criteria's calibration error
    beside, and how many other rows' Brier CIs reach below its CI's upper bound (not told apart)."""
    metric = (report.get("thresholds") or {}).get("metric", "rms_calib_err")
    scored = [(r, (r.get("metrics") or {}).get(BEST_BY) or {}) for r in report.get("rows") or []]
    scored = [(r, e) for r, e in scored if e.get("value") is not None]
    if not scored:
        return None
    row, entry = min(scored, key=lambda pair: pair[1]["value"])
    ci = entry.get("ci")
    overlapping = sum(1 for r, e in scored if r is not row and ci and e.get("ci") and e["ci"][0] <= ci[1])
    return {"title": row_name(row), "extractor": row["extractor"], "metric": BEST_BY, "value": entry["value"],
            "ci": ci, "of": len(scored), "overlapping": overlapping, "calibration_metric": metric,
            "calibration": ((row.get("metrics") or {}).get(metric) or {}).get("value")}


def best_calibrated(report: dict[str, Any]) -> str | None:
    """One line of ``best_row``: the row, its Brier score with CI, its calibration error, and
    whether other rows' CIs overlap it."""
    best = best_row(report)
    if best is None:
        return None
    text = f"{best['title']}/{best['extractor']}, Brier {fmt({'value': best['value'], 'ci': best['ci']})}"
    if best["calibration"] is not None:
        text += f", {best['calibration_metric']} {number(best['calibration'])}"
    if best["ci"]:
        text += (f"; the Brier CIs of {best['overlapping']} other row(s) overlap it" if best["overlapping"]
                 else "; its Brier CI lies below every other row's")
    return text


def conclusion_lines(report: dict[str, Any]) -> list[str]:
    """The verdicts at a glance: per trainer each criterion's outcome, whether it beats / adds to
    the best post-hoc map (naming it), the best row by Brier score, and which reading decided."""
    thresholds = report.get("thresholds") or {}
    lines = ["## Verdicts at a glance", "", "Decided by: " + (
        "the point estimates (`--point`, the seed's reading; not the default, blind to the intervals)"
        if thresholds.get("point") else
        "the paired 95% bootstrap CIs (calibration, accuracy, discrimination: pass, FAIL or inconclusive; "
        "docs/metrics.md)"), ""]
    comps = report.get("comparisons") or []
    if comps:
        names = list(dict.fromkeys(v["name"] for c in comps for v in c["criteria"]))
        lines += ["| trainer | extractor | overall | " + " | ".join(names)
                  + " | beats best post-hoc | adds to post-hoc |", "|" + " --- |" * (5 + len(names))]
        for comp in comps:
            got = {v["name"]: verdict_outcome(v) for v in comp["criteria"]}
            cells = [SHOWN[got[n]] if got.get(n) else "n/a" for n in names]
            overall = verdict_outcome(comp)
            lines.append(f"| {comp['trainer']} | {comp['extractor']} | **{SHOWN[overall].upper()}** | "
                         + " | ".join(cells) + f" | {_posthoc_cell(comp.get('beats_posthoc'))} | "
                         f"{_posthoc_cell(comp.get('adds_to_posthoc'))} |")
        required = sorted({r for c in comps for r in c.get("required") or ()})
        lines += ["", "The post-hoc verdicts gate only when required"
                  + (f" (required here: {', '.join(required)})." if required else " (none is, here).")]
    else:
        lines.append("No trainer ran: no verdict.")
    best = best_calibrated(report)
    if best:
        lines += ["", "Best row by Brier score (a proper score: calibration error alone would rank a "
                      f"constant first): {best}."]
    return lines + [""]


def render_markdown(report: dict[str, Any]) -> str:
    lines = [f"# Calibration report: {report['task']} on {report['model']}", ""]
    lines += [f"**{report['note']}**", ""]
    lines += conclusion_lines(report)
    lines += ["## The run", ""]
    split = report["split"]
    boot = report["bootstrap"]
    counting = report["counting"]
    lines += [f"- split: {split['train']} training / {split['test']} evaluated ({split['evaluated']})",
              f"- seed: {report['seed']} (selection, split, training unless set, bootstrap)",
              f"- bootstrap: {boot['resamples']} resamples of {boot['unit']}s"
              + (" (the examples have no groups)" if boot["unit"] != boot["requested"] else ""),
              f"- counting: every judged example counts; not attempted = {counting['not_attempted']}; "
              f"an answer without a confidence counts with confidence {counting['missing_confidence']:g}, "
              "imputed and counted by the core"
              + "".join(f" ({name}: {value:g}, its on_missing)" for name, value in
                        (counting.get("missing_confidence_by_extractor") or {}).items()
                        if value != counting["missing_confidence"])]
    strategies = report["strategies"]
    for key in ("task", "backend", "judge"):
        lines.append(f"- {key}: `{strategies[key]['name']}` {json.dumps(strategies[key]['params'])}")
    for key in ("extractors", "trainers", "calibrators"):
        for entry in strategies.get(key, []):
            lines.append(f"- {key[:-1]}: `{entry['name']}` {json.dumps(entry['params'])}")
    if report.get("profile"):
        seed_defaults = report.get("seed_defaults") or {}
        lines += ["", f"Trainer parameters come from the {report['profile']} (the embedded model "
                  "needs far larger learning rates than the seed's 1-2B models)"
                  + ("; the seed's registry defaults, for comparison:" if seed_defaults else
                     "; no trainer ran, so no parameter of it is in force.")]
        for name, params in seed_defaults.items():
            lines.append(f"- `{name}` (registry.toml): {json.dumps(params)}")
    lines.append(f"- config layers: {', '.join(strategies['layers']) or 'defaults'}")
    if report.get("posthoc_note"):
        lines += ["", report["posthoc_note"]]
    lines += ["", "## Metrics (95% bootstrap CIs)", ""]
    names = [n for n in headline() if any(n in r["metrics"] for r in report["rows"])]
    names += sorted({n for r in report["rows"] for n in r["metrics"]} - set(names))
    lines.append("| model | extractor | scored | " + " | ".join(names) + " |")
    lines.append("|" + " --- |" * (3 + len(names)))
    for row in report["rows"]:
        counts = row["counts"]
        scored = f"{counts['scored']}/{counts['examples']}" if counts else "n/a"
        cells = [fmt(row["metrics"].get(n)) for n in names]
        if row.get("error"):
            cells = [f"n/a ({row['error']})"] + ["n/a"] * (len(names) - 1)
        lines.append(f"| {row_name(row)} | {row['extractor']} | {scored} | " + " | ".join(cells) + " |")
    hle_rows = [(r, r["metrics"].get("hle_calib_err") or {}) for r in report["rows"]]
    if any(e.get("value") is not None for _, e in hle_rows):
        lines += ["", "HLE's reported form (`100 * round(err, 2)`): " + ", ".join(
            f"{row_name(r)}/{r['extractor']} {e.get('hle_percent', 100 * round(e['value'], 2)):g}"
            for r, e in hle_rows if e.get("value") is not None)]
    hle_acc = [r for r in report["rows"] if (r.get("hle_accuracy") or {}).get("percent") is not None]
    if hle_acc:
        lines += ["", "HLE's accuracy (every question; an unjudged one counts wrong): " + ", ".join(
            f"{row_name(r)}/{r['extractor']} {r['hle_accuracy']['percent']:g}% "
            f"+/- {r['hle_accuracy']['half_width']:g} ({r['hle_accuracy']['unjudged']} unjudged)"
            for r in hle_acc)]
    lines += _simpleqa_lines(report["rows"], report.get("comparisons") or ())
    lines += _extractor_lines(report)
    lines += ["", "Counted, never hidden:", ""]
    for row in report["rows"]:
        c = row["counts"]
        if not c:
            continue
        cov = f", answered {row['coverage']:.1%}" if row.get("coverage") is not None else ""
        lines.append(f"- {row_name(row)}/{row['extractor']}: judge errors {c['judge_errors']} (left out), "
                     f"not attempted {c['not_attempted']} ({c['not_attempted_excluded']} left out), "
                     f"no confidence {c['missing_confidence']} (imputed){cov}")
    lines += _abstention_lines(report["rows"])
    fitted = [r for r in report["rows"] if r.get("calibrator_fit")]
    if fitted:
        from harness.statistics.posthoc import describe_scheme, fitted_summary

        lines += ["", "## Post-hoc calibrators", "", describe_scheme(report.get("posthoc")), ""]
        for row in fitted:
            lines.append(f"- {row_name(row)}/{row['extractor']}: {fitted_summary(row['calibrator_fit'])}")
    for comp in report["comparisons"]:
        overall = verdict_outcome(comp)
        lines += ["", f"## {comp['trainer']} vs baseline ({comp['extractor']}, paired on "
                  f"{comp['paired_n']} examples): {SHOWN[overall].upper()}", ""]
        if comp.get("error"):
            lines += [comp["error"], ""]
        if comp.get("answers_from"):
            lines += [f"The trained model's answers are `{comp['answers_from']}`'s, generated and judged "
                      "once: its adapter serves only the extractor's follow-up requests, so accuracy cannot "
                      "change.", ""]
        lines += ["| metric | baseline | trained | change [95% CI] |", "| --- | --- | --- | --- |"]
        for name, ch in comp["changes"].items():
            if ch.get("diff") is None:
                lines.append(f"| {name} | n/a | n/a | n/a ({ch.get('error')}) |")
                continue
            lines.append(f"| {name} | {number(ch['a'])} | {number(ch['b'])} | {fmt(ch, signed=True)} |")
        lines += ["", "| criterion | verdict | value | threshold | detail |",
                  "| --- | --- | --- | --- | --- |"]
        for v in comp["criteria"]:
            lines.append(f"| {v['name']} | {SHOWN[verdict_outcome(v) or 'fail']} | {_num(v['value'])} | "
                         f"{_num(v['threshold'])} | {v['detail']} |")
        lines += [""] + _posthoc_lines(comp)
        retention = comp.get("retention")
        if retention and retention.get("value") is not None:
            lines += ["", f"Retention: {retention['kept']}/{retention['n']} ({retention['value']:.1%}) of "
                      "the questions the baseline answered correctly are still answered correctly."]
        if comp.get("subgroups"):
            metric = report["thresholds"]["metric"]
            lines += ["", f"| subgroup | n | accuracy (baseline -> trained) | {metric} | retention |",
                      "| --- | --- | --- | --- | --- |"]
            for g in comp["subgroups"]:
                lines.append(f"| {g['subgroup']} | {g['n']} | {_pair(g['accuracy'])} | {_pair(g[metric])} | "
                             f"{_num(g['retention']) if g['retention'] is not None else 'n/a'} |")
    if report["diagrams"]:
        lines += ["", "## Reliability diagrams", ""]
        for name, rel in report["diagrams"].items():
            lines += [f"![{name}]({rel})", ""]
    return "\n".join(lines) + "\n"


def _simpleqa_lines(rows: Sequence[dict[str, Any]],
                    report_comparisons: Sequence[dict[str, Any]] = ()) -> list[str]:
    """SimpleQA's metrics of each row's grades (over the judged examples), with their bootstrap
    intervals, and each trainer's paired changes of them."""
    from harness.statistics.simpleqa_metrics import NAMES

    shown = [r for r in rows if r.get("simpleqa") and not r.get("calibrator")]  # a calibrator grades nothing
    if not shown:
        return []
    lines = ["", "## SimpleQA's metrics (shares of the judged examples)", "",
             "| model | extractor | judged | " + " | ".join(NAMES) + " |", "|" + " --- |" * (3 + len(NAMES))]
    for row in shown:
        sq = row["simpleqa"]
        ci = sq.get("ci") or {}
        lines.append(f"| {row_name(row)} | {row['extractor']} | {sq['n']} | "
                     + " | ".join(fmt({"value": sq[n], "ci": ci.get(n)}) for n in NAMES)
                     + " |")
    changes = [c for c in report_comparisons if c.get("simpleqa_changes")]
    if changes:
        lines += ["", "SimpleQA's metrics, paired changes (trained - baseline, on the examples both had "
                      "judged; 95% bootstrap intervals):", "",
                  "| trainer | extractor | paired | " + " | ".join(NAMES) + " |",
                  "|" + " --- |" * (3 + len(NAMES))]
        for comp in changes:
            ch = comp["simpleqa_changes"]
            cells = [fmt(ch[n], signed=True) for n in NAMES]
            lines.append(f"| {comp['trainer']} | {comp['extractor']} | {ch['n']} | "
                         + " | ".join(cells) + " |")
    return lines


def _extractor_lines(report: dict[str, Any]) -> list[str]:
    """The run's extractors on the baseline model, ranked by AUROC, each with its paired changes
    against the first (the reference)."""
    comps = {c["extractor"]: c for c in report.get("extractor_comparisons") or []}
    if not comps:
        return []
    reference = next(iter(comps.values()))["reference"]
    rows = {r["extractor"]: r for r in report["rows"]
            if r["label"] == "baseline" and not r.get("calibrator") and r["extractor"] in {reference, *comps}}

    def auroc(name: str) -> float:
        value = (rows[name].get("metrics", {}).get("auroc") or {}).get("value")
        return -1.0 if value is None else value

    changes = ("auroc", "brier", "rms_calib_err")
    lines = ["", f"## Confidence extractors compared (baseline model, ranked by AUROC; changes paired "
             f"with `{reference}` on the questions both scored)", "",
             "| rank | extractor | scored | auroc | rms_calib_err | brier | "
             + " | ".join(f"Δ {m}" for m in changes) + " | answers |", "|" + " --- |" * 10]
    for rank, name in enumerate(sorted(rows, key=lambda n: (-auroc(n), n)), start=1):
        metrics, comp = rows[name].get("metrics", {}), comps.get(name)
        if comp is None:
            deltas, shared = ["reference"] * len(changes), "its own"
        else:
            deltas = [_change(comp["changes"].get(m), comp.get("error")) for m in changes]
            shared = f"shared with `{comp['answers_from']}`" if comp.get("answers_from") else "its own"
        scored = (rows[name].get("counts") or {}).get("scored", "n/a")
        lines.append(f"| {rank} | {name} | {scored} | {fmt(metrics.get('auroc'))} | "
                     f"{fmt(metrics.get('rms_calib_err'))} | {fmt(metrics.get('brier'))} | "
                     + " | ".join(deltas) + f" | {shared} |")
    if any(c.get("answers_from") for c in comps.values()):
        lines += ["", "Extractors whose answers are shared prompted alike: one greedy answer per question "
                  "was generated and judged once, and only the confidence differs between them."]
    return lines


def _change(change: dict[str, Any] | None, error: str | None = None) -> str:
    if not change or change.get("diff") is None:
        return f"n/a ({(change or {}).get('error') or error})"
    return fmt(change, signed=True)


def _pair(values: Sequence[float | None]) -> str:
    return " -> ".join(number(v) for v in values)


def _abstention_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Each row's ``coverage_at_risk`` (``harness.statistics.abstention``), one line per row."""
    from harness.statistics.abstention import describe

    shown = [r for r in rows if r.get("coverage_at_risk")]
    if not shown:
        return []
    lines = ["", "## Abstention with a risk guarantee", "",
             "Each row answers only above a confidence threshold chosen by Learn-then-Test so that its error "
             "rate among answered questions is at most alpha with probability 1 - delta; each fold of its "
             "answers is measured under a threshold chosen on the other folds (docs/metrics.md). Share "
             "answered and realised error rate, with 95% bootstrap CIs:", ""]
    for row in shown:
        lines.append(f"- {row_name(row)}/{row['extractor']}: {describe(row['coverage_at_risk'])}")
    return lines


def _posthoc_lines(comp: dict[str, Any]) -> list[str]:
    required = set(comp.get("required") or ())
    lines = []
    for name in ("beats_posthoc", "adds_to_posthoc", "risk"):
        verdict = comp.get(name)
        gate = " (required)" if name in required else " (reported)"
        if verdict is None:
            why = "no outcomes" if name == "risk" else "no post-hoc rows"
            lines.append(f"- {name}: n/a ({why}){gate}")
        else:
            lines.append(f"- {name}: {SHOWN[verdict_outcome(verdict) or 'fail']}{gate} — "
                         f"{verdict.get('detail') or verdict.get('error')}")
    return lines


def _num(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_num(v)}" for k, v in value.items())
    return number(value) if isinstance(value, float) else str(value)


def glance(report: dict[str, Any]) -> list[str]:
    """The terminal's verdicts at a glance: one line per trainer, then the best row by Brier score."""
    point = (report.get("thresholds") or {}).get("point")
    lines = ["Verdicts (" + ("POINT reading, --point: point estimates decided" if point else
                             "decided by the paired 95% CIs") + "):"]
    for comp in report["comparisons"]:
        overall = verdict_outcome(comp)
        others = [f"{v['name']} {o}" for v in comp["criteria"] if (o := verdict_outcome(v)) != "pass"]
        lines.append(f"  {comp['trainer']}: {SHOWN[overall].upper()}"
                     + (f" ({', '.join(others)})" if others else "")
                     + f"; beats best post-hoc: {_posthoc_cell(comp.get('beats_posthoc'))}"
                     + f"; adds to post-hoc: {_posthoc_cell(comp.get('adds_to_posthoc'))}")
    best = best_calibrated(report)
    if best:
        lines.append(f"  best row (Brier score): {best}")
    return lines


def _answered_at_risk(row: dict[str, Any]) -> str:
    """The share a row answers under its risk-controlled threshold (terminal column)."""
    coverage = (row.get("coverage_at_risk") or {}).get("coverage") or {}
    return f"{coverage['value']:.1%}" if coverage.get("value") is not None else "n/a"


def summary_table(report: dict[str, Any]) -> str:
    lines = glance(report) if report.get("comparisons") else []
    lines.append(report["note"])
    if report.get("posthoc_note"):
        lines.append(report["posthoc_note"])
    alpha = (report.get("thresholds") or {}).get("risk_alpha")
    at_risk = f"ans@{alpha:g}" if alpha is not None else "ans@risk"
    columns = columns_of(report)  # the [report] columns setting the run was made with
    widths = [max(len(c), 6) for c in columns]
    lines.append(f"{'model':<24} {'extractor':<11} {'n':>5} "
                 + " ".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True)) + f" {at_risk:>8}")
    for row in report["rows"]:
        values = [number((row["metrics"].get(c) or {}).get("value")) for c in columns]
        n = row["counts"]["scored"] if row["counts"] else 0
        lines.append(f"{row_name(row):<24} {row['extractor']:<11} {n:>5} "
                     + " ".join(f"{v:>{w}}" for v, w in zip(values, widths, strict=True))
                     + f" {_answered_at_risk(row):>8}")
    # SimpleQA's metrics say more than accuracy only where answers go unattempted (or on SimpleQA)
    abstained = any((row.get("simpleqa") or {}).get("not_attempted") for row in report["rows"])
    for row in report["rows"] if abstained or report.get("task") == "simpleqa" else []:
        sq = row.get("simpleqa")
        if sq and sq["f_score"] is not None and not row.get("calibrator"):
            lines.append(f"SimpleQA {row_name(row)}/{row['extractor']}: correct {number(sq['correct'])}, "
                         f"not attempted {number(sq['not_attempted'])}, accuracy given attempted "
                         f"{number(sq['accuracy_given_attempted'])}, F-score {number(sq['f_score'])}")
    return "\n".join(lines)

