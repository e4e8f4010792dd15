"""Reports of a run: ``report.json`` (machine-readable), ``report.md`` (with the reliability
diagrams), the terminal summary, ``harness compare`` and the ``harness check`` CI gate.
``report.md`` and the terminal summary open with the verdicts at a glance (``conclusion_lines``,
``glance``): per trainer each criterion's outcome, the post-hoc verdicts naming their map, the
best-calibrated row and the reading that decided.

Every number and verdict comes from ``harness.statistics.assessment.assess`` on the per-example
outcome files of the run folder; ``harness check`` recomputes it from those files with the
thresholds in force, never the ones stored here.

``report.json`` schema (``"schema": "calibration-harness/report/v2"``):

- ``held_out`` (bool), ``note`` (str), ``posthoc_note`` (why there are no calibrator rows, or null);
- ``task``, ``model``, ``seed``, ``split`` (``train``, ``test`` sizes and the evaluated split's name);
- ``strategies``: every selected strategy with its effective parameters and source;
  ``seed_defaults``: the trainers' parameters without the model's profile; ``profile``;
- ``counting``: ``not_attempted`` (the judge's policy), ``missing_confidence`` (the value
  imputed for an answer without one; see ``harness.statistics.outcomes``) and
  ``missing_confidence_by_extractor`` (an extractor's own value, e.g. ``verbalized``'s
  ``on_missing``, imputed in its place for that extractor's rows);
- ``bootstrap``: ``unit`` (``group`` or ``example``), ``resamples``, ``seed``;
- ``thresholds``: the criteria the verdicts below were computed with;
- ``metric_names``: the metrics asked for by name (null: every registered metric);
- ``trainers``: ``{trainer: the extractor it is evaluated with}``;
- ``rows``: one per evaluated model, extractor and post-hoc calibrator: ``label``
  (``baseline`` or the trainer), ``extractor``, ``calibrator`` (null, or the calibrator's
  name), ``key``, ``outcomes`` (the per-example file), ``counts`` (examples, scored,
  judge_errors, not_attempted, not_attempted_excluded, missing_confidence, imputed,
  answered, correct), ``coverage``, ``metrics`` (``{name: {"value", "ci": [lo, hi], "error"}}``),
  ``simpleqa`` (SimpleQA's metrics of the row's grades: ``n``, the shares ``correct``,
  ``incorrect``, ``not_attempted``, ``accuracy_given_attempted``, ``f_score``, and ``ci``
  their bootstrap intervals; see ``harness.statistics.simpleqa_metrics``), ``hle_accuracy`` (with a judge
  that counts as HLE does: correct over every question, an unjudged one wrong),
  ``failed_metrics`` (``{name: error}`` of plugin metrics that raised or returned no number),
  and for calibrated rows ``calibrator_fit`` (fitted parameters, ``fitted_on``, or ``error``);
- ``comparisons``: one per trainer: ``trainer``, ``extractor``, ``paired_n``, ``changes``
  (``{metric: {"a", "b", "diff", "ci"}}``: trained minus baseline, paired bootstrap),
  ``criteria`` (one verdict per criterion: name, outcome — ``pass``, ``fail`` or
  ``inconclusive`` — passed (outcome == pass), value, threshold, detail, reading —
  ``interval``, ``point`` or null — and intervals, the paired CIs that decided),
  ``retention``, ``subgroups``, ``beats_posthoc`` and ``adds_to_posthoc`` (reported; gating
  only when listed in ``required``), ``outcome`` (fail if any gating verdict fails, else
  inconclusive if any is, else pass), ``not_passed`` (``{verdict: outcome}``), ``reading``,
  ``passed`` (outcome == pass), ``simpleqa_changes`` (``{name: {"value", "ci"}}`` of SimpleQA's
  metrics, trained minus baseline, paired bootstrap, and ``n``);
- ``diagrams``: ``{name: "diagrams/<name>.png"}``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.artifacts import write_json_atomic, write_text_atomic
from harness.errors import InputError
from harness.statistics import outcomes as outcome_files

SCHEMA = "calibration-harness/report/v2"
HEADLINE = ("accuracy", "hle_calib_err", "rms_calib_err", "ece", "brier", "auroc", "confidence_std")
SIMPLEQA_COLUMNS = ("not_attempted", "accuracy_given_attempted", "f_score")  # of SimpleQA's metrics


def build_report(exp: Any, results: dict, on_train: dict, models: dict, *, train: Sequence,
                 test: Sequence, test_name: str, posthoc_note: str | None = None) -> dict[str, Any]:
    """Outcome files, post-hoc rows, every verdict and the diagrams of a finished run."""
    from harness.statistics.assessment import RowKey, Settings, assess
    from harness.statistics.criteria import thresholds_from
    from harness.statistics.posthoc import posthoc_rows, posthoc_scheme

    spec, config = exp.spec, exp.config
    policy = exp.judge_settings.not_attempted
    held_out = test_name != "train"  # an evaluation-only run trained on nothing
    note = ("Evaluated on held-out questions (grouped split)." if test_name == "test"
            else "Evaluation only: every selected example, no training." if test_name == "all"
            else "NOT HELD-OUT: --eval-on-train re-evaluates on the training questions "
                 "(the seed's protocol); the gains below may be memorisation.")
    if spec.eval_task:
        trained_on, evaluated = _split_sets(exp.out)  # the digests split.json holds, as check reads them
        shared = len(trained_on & evaluated)
        held_out = _held_out(exp.out)
        note = (f"Out of distribution: trained on task {spec.task} (its training split, {len(train)} "
                f"questions), evaluated on task {spec.eval_task} ({len(test)} questions); post-hoc maps "
                f"fitted on {spec.eval_task}'s answers (harness.statistics.posthoc). "
                + ("No evaluated question is a training question." if held_out else
                   f"NOT HELD-OUT: {shared} evaluated questions are also training questions."))
    rows: dict[Any, list[outcome_files.Outcome]] = {}
    for (label, extractor), result in results.items():
        rows[RowKey(label=label, extractor=extractor)] = outcome_files.collect(
            result["examples"], result["predictions"], result["judgments"])
    missing = missing_by_extractor(exp.extractors)
    scheme = posthoc_scheme(exp)
    train_rows = {RowKey(label=label, extractor=extractor): outcome_files.collect(
        result["examples"], result["predictions"], result["judgments"])
        for (label, extractor), result in on_train.items()}
    fits: dict[Any, dict[str, Any]] = {}
    if on_train:  # post-hoc rows: cross-fitted or on a calibration part (harness.statistics.posthoc)
        rows, fits = posthoc_rows(rows, train_rows, spec.calibrators, config, scheme, not_attempted=policy,
                                  missing_confidence=missing)
    for key, items in rows.items():
        outcome_files.write(exp.out / "outcomes" / f"{key.slug}.jsonl", items)
    thresholds = thresholds_from(config)
    trainers = {name: exp.trainers[name].extractor for name in models}
    settings = Settings(thresholds=thresholds, config=config, metric_names=exp.metric_names,
                        not_attempted=policy, missing_by_extractor=missing, bootstrap=spec.bootstrap,
                        seed=spec.seed)
    extractors = [spec.extractor, *spec.extra_extractors]
    assessed = assess(rows, trainers, settings, held_out=held_out, fits=fits, extractors=extractors)
    for comp in assessed["extractor_comparisons"]:
        comp["answers_from"] = results.get(("baseline", comp["extractor"]), {}).get("answers_from")
    for comp in assessed["comparisons"]:  # a trained adapter that only scores the base model's answers
        comp["answers_from"] = results.get((comp["trainer"], comp["extractor"]), {}).get("answers_from")
    hle_counting = bool(getattr(exp.judge, "unjudged_is_wrong", False))  # the judge says HLE counts
    for row in assessed["rows"]:
        if RowKey(label=row["label"], extractor=row["extractor"], calibrator=row["calibrator"]) in rows:
            row["outcomes"] = f"outcomes/{row['key']}.jsonl"
        if hle_counting and row.get("counts"):
            from harness.statistics.simpleqa_metrics import hle_accuracy

            row["hle_accuracy"] = hle_accuracy(row["counts"])
    diagrams = _diagrams(exp, rows, settings)
    return {
        "schema": SCHEMA, "held_out": held_out, "note": note, "posthoc_note": posthoc_note,
        "posthoc": scheme.to_dict() if on_train else None,
        "task": spec.task, "eval_task": spec.eval_task, "model": spec.model,
        "split": {"train": len(train), "test": len(test), "evaluated": test_name},
        "strategies": exp.effective_config, "seed_defaults": exp.seed_defaults,
        "profile": exp.profile_source, "seed": spec.seed,
        "counting": {"not_attempted": policy, "missing_confidence": settings.missing_confidence,
                     "missing_confidence_by_extractor": dict(missing)},
        "bootstrap": assessed["bootstrap"], "thresholds": thresholds, "trainers": trainers,
        "metric_names": exp.metric_names,
        "rows": assessed["rows"], "comparisons": assessed["comparisons"],
        "extractor_comparisons": assessed["extractor_comparisons"], "diagrams": diagrams,
    }


def missing_by_extractor(extractors: dict[str, Any]) -> dict[str, float]:
    """Each extractor's own value for a missing confidence (its ``missing_confidence``, e.g.
    ``verbalized``'s ``on_missing``), where it declares one; the core imputes it and counts it."""
    out = {}
    for name, extractor in extractors.items():
        value = getattr(extractor, "missing_confidence", None)
        if value is not None:
            out[name] = float(value)
    return out


def _diagrams(exp: Any, rows: dict, settings: Any) -> dict[str, str]:
    """Per extractor, one diagram of the models and one of the post-hoc rows."""
    from harness.reporting.diagrams import reliability_diagram

    diagrams = {}
    for extractor in exp.reported:
        for suffix, posthoc in (("", False), ("-posthoc", True)):
            runs = []
            for key, items in rows.items():
                if key.extractor != extractor or bool(key.calibrator) != posthoc:
                    continue
                c = outcome_files.count(items, not_attempted=settings.not_attempted,
                                        missing_confidence=settings.missing_for(key.extractor))
                if c.ids:
                    runs.append((key.title, c.confidence, c.correct))
            if runs:
                rel = f"diagrams/{extractor}{suffix}.png"
                title = f"{exp.spec.task}, {exp.spec.model}: {extractor}" + (", post-hoc" if posthoc else "")
                reliability_diagram(runs, exp.out / rel, title=title)
                diagrams[extractor + suffix] = rel
    return diagrams


def write_report(folder: Path, report: dict[str, Any]) -> None:
    write_json_atomic(folder / "report.json", report)
    write_text_atomic(folder / "report.md", render_markdown(report))


def _fmt(entry: dict[str, Any] | None, digits: int = 3) -> str:
    if not entry or entry.get("value") is None:
        return "n/a"
    text = f"{entry['value']:.{digits}f}"
    if entry.get("ci"):
        lo, hi = entry["ci"]
        text += f" [{lo:.{digits}f}, {hi:.{digits}f}]"
    return text


def _row_name(row: dict[str, Any]) -> str:
    return row["label"] + (f" + {row['calibrator']}" if row.get("calibrator") else "")


#: how each outcome reads in the tables at a glance
SHOWN = {"pass": "pass", "fail": "FAIL", "inconclusive": "inconclusive"}


def _outcome(verdict: dict[str, Any] | None) -> str | None:
    """A verdict dict's outcome (an older one: pass/fail from ``passed``); None for no verdict."""
    if verdict is None:
        return None
    return str(verdict.get("outcome") or ("pass" if verdict.get("passed") else "fail"))


def _posthoc_cell(verdict: dict[str, Any] | None) -> str:
    outcome = _outcome(verdict)
    if outcome is None or verdict is None:
        return "n/a (no post-hoc rows)"
    against = verdict.get("against")
    return SHOWN[outcome] + (f" vs {against}" if against else "")


def best_calibrated(report: dict[str, Any]) -> str | None:
    """The row with the lowest point estimate of the criteria's calibration error, with its CI and
    how many other rows' CIs reach below that CI's upper bound (cannot be told apart from it)."""
    metric = (report.get("thresholds") or {}).get("metric", "rms_calib_err")
    scored = [(r, (r.get("metrics") or {}).get(metric) or {}) for r in report["rows"]]
    scored = [(r, e) for r, e in scored if e.get("value") is not None]
    if not scored:
        return None
    row, entry = min(scored, key=lambda pair: pair[1]["value"])
    text = f"{_row_name(row)}/{row['extractor']}, {metric} {_fmt(entry, 4)}"
    if entry.get("ci"):
        close = [r for r, e in scored if r is not row and e.get("ci") and e["ci"][0] <= entry["ci"][1]]
        text += (f"; by its point estimate: the CIs of {len(close)} other row(s) overlap it" if close
                 else "; its CI lies below every other row's")
    return text


def conclusion_lines(report: dict[str, Any]) -> list[str]:
    """The verdicts at a glance: per trainer each criterion's outcome, whether it beats / adds to
    the best post-hoc map (naming it), the best-calibrated row, and which reading decided."""
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
            got = {v["name"]: _outcome(v) for v in comp["criteria"]}
            cells = [SHOWN[got[n]] if got.get(n) else "n/a" for n in names]
            overall = comp.get("outcome") or ("pass" if comp.get("passed") else "fail")
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
        lines += ["", f"Best-calibrated row: {best}."]
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
    names = [n for n in HEADLINE if any(n in r["metrics"] for r in report["rows"])]
    names += sorted({n for r in report["rows"] for n in r["metrics"]} - set(names))
    lines.append("| model | extractor | scored | " + " | ".join(names) + " |")
    lines.append("|" + " --- |" * (3 + len(names)))
    for row in report["rows"]:
        counts = row["counts"]
        scored = f"{counts['scored']}/{counts['examples']}" if counts else "n/a"
        cells = [_fmt(row["metrics"].get(n)) for n in names]
        if row.get("error"):
            cells = [f"n/a ({row['error']})"] + ["n/a"] * (len(names) - 1)
        lines.append(f"| {_row_name(row)} | {row['extractor']} | {scored} | " + " | ".join(cells) + " |")
    hle_rows = [(r, r["metrics"].get("hle_calib_err") or {}) for r in report["rows"]]
    if any(e.get("value") is not None for _, e in hle_rows):
        lines += ["", "HLE's reported form (`100 * round(err, 2)`): " + ", ".join(
            f"{_row_name(r)}/{r['extractor']} {e.get('hle_percent', 100 * round(e['value'], 2)):g}"
            for r, e in hle_rows if e.get("value") is not None)]
    hle_acc = [r for r in report["rows"] if (r.get("hle_accuracy") or {}).get("percent") is not None]
    if hle_acc:
        lines += ["", "HLE's accuracy (every question; an unjudged one counts wrong): " + ", ".join(
            f"{_row_name(r)}/{r['extractor']} {r['hle_accuracy']['percent']:g}% "
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
        lines.append(f"- {_row_name(row)}/{row['extractor']}: judge errors {c['judge_errors']} (left out), "
                     f"not attempted {c['not_attempted']} ({c['not_attempted_excluded']} left out), "
                     f"no confidence {c['missing_confidence']} (imputed){cov}")
    fitted = [r for r in report["rows"] if r.get("calibrator_fit")]
    if fitted:
        from harness.statistics.posthoc import describe_scheme, fitted_summary

        lines += ["", "## Post-hoc calibrators", "", describe_scheme(report.get("posthoc")), ""]
        for row in fitted:
            lines.append(f"- {_row_name(row)}/{row['extractor']}: {fitted_summary(row['calibrator_fit'])}")
    for comp in report["comparisons"]:
        overall = comp.get("outcome") or ("pass" if comp["passed"] else "fail")
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
            ci = ch.get("ci")
            ci_text = f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else ""
            lines.append(f"| {name} | {ch['a']:.3f} | {ch['b']:.3f} | {ch['diff']:+.3f}{ci_text} |")
        lines += ["", "| criterion | verdict | value | threshold | detail |",
                  "| --- | --- | --- | --- | --- |"]
        for v in comp["criteria"]:
            lines.append(f"| {v['name']} | {SHOWN[_outcome(v) or 'fail']} | {_num(v['value'])} | "
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
        lines.append(f"| {_row_name(row)} | {row['extractor']} | {sq['n']} | "
                     + " | ".join("n/a" if sq[n] is None else f"{sq[n]:.3f}{_ci(ci.get(n))}" for n in NAMES)
                     + " |")
    changes = [c for c in report_comparisons if c.get("simpleqa_changes")]
    if changes:
        lines += ["", "SimpleQA's metrics, paired changes (trained - baseline, on the examples both had "
                      "judged; 95% bootstrap intervals):", "",
                  "| trainer | extractor | paired | " + " | ".join(NAMES) + " |",
                  "|" + " --- |" * (3 + len(NAMES))]
        for comp in changes:
            ch = comp["simpleqa_changes"]
            cells = ["n/a" if ch[n]["value"] is None else f"{ch[n]['value']:+.3f}{_ci(ch[n]['ci'])}"
                     for n in NAMES]
            lines.append(f"| {comp['trainer']} | {comp['extractor']} | {ch['n']} | "
                         + " | ".join(cells) + " |")
    return lines


def _ci(interval: Sequence[float] | None) -> str:
    return "" if not interval else f" [{interval[0]:.3f}, {interval[1]:.3f}]"


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
        lines.append(f"| {rank} | {name} | {scored} | {_fmt(metrics.get('auroc'))} | "
                     f"{_fmt(metrics.get('rms_calib_err'))} | {_fmt(metrics.get('brier'))} | "
                     + " | ".join(deltas) + f" | {shared} |")
    if any(c.get("answers_from") for c in comps.values()):
        lines += ["", "Extractors whose answers are shared prompted alike: one greedy answer per question "
                  "was generated and judged once, and only the confidence differs between them."]
    return lines


def _change(change: dict[str, Any] | None, error: str | None = None) -> str:
    if not change or change.get("diff") is None:
        return f"n/a ({(change or {}).get('error') or error})"
    ci = change.get("ci")
    return f"{change['diff']:+.3f}" + (f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "")


def _pair(values: Sequence[float | None]) -> str:
    return " -> ".join("n/a" if v is None else f"{v:.3f}" for v in values)


def _posthoc_lines(comp: dict[str, Any]) -> list[str]:
    required = set(comp.get("required") or ())
    lines = []
    for name in ("beats_posthoc", "adds_to_posthoc"):
        verdict = comp.get(name)
        gate = " (required)" if name in required else " (reported)"
        if verdict is None:
            lines.append(f"- {name}: n/a (no post-hoc rows){gate}")
        else:
            lines.append(f"- {name}: {SHOWN[_outcome(verdict) or 'fail']}{gate} — "
                         f"{verdict.get('detail') or verdict.get('error')}")
    return lines


def _num(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_num(v)}" for k, v in value.items())
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def glance(report: dict[str, Any]) -> list[str]:
    """The terminal's verdicts at a glance: one line per trainer, then the best-calibrated row."""
    point = (report.get("thresholds") or {}).get("point")
    lines = ["Verdicts (" + ("POINT reading, --point: point estimates decided" if point else
                             "decided by the paired 95% CIs") + "):"]
    for comp in report["comparisons"]:
        overall = comp.get("outcome") or ("pass" if comp.get("passed") else "fail")
        others = [f"{v['name']} {_outcome(v)}" for v in comp["criteria"] if _outcome(v) != "pass"]
        lines.append(f"  {comp['trainer']}: {SHOWN[overall].upper()}"
                     + (f" ({', '.join(others)})" if others else "")
                     + f"; beats best post-hoc: {_posthoc_cell(comp.get('beats_posthoc'))}"
                     + f"; adds to post-hoc: {_posthoc_cell(comp.get('adds_to_posthoc'))}")
    best = best_calibrated(report)
    if best:
        lines.append(f"  best-calibrated row: {best}")
    return lines


def summary_table(report: dict[str, Any]) -> str:
    lines = glance(report) if report.get("comparisons") else []
    lines.append(report["note"])
    if report.get("posthoc_note"):
        lines.append(report["posthoc_note"])
    lines.append(f"{'model':<24} {'extractor':<11} {'n':>5} {'acc':>6} {'rms_ce':>7} {'ece':>6} "
                 f"{'brier':>6} {'auroc':>6} {'conf_sd':>7}")
    for row in report["rows"]:
        m = row["metrics"]

        def val(name: str, m: dict = m) -> str:
            entry = m.get(name) or {}
            return f"{entry['value']:.3f}" if entry.get("value") is not None else "n/a"

        n = row["counts"]["scored"] if row["counts"] else 0
        lines.append(f"{_row_name(row):<24} {row['extractor']:<11} {n:>5} "
                     f"{val('accuracy'):>6} {val('rms_calib_err'):>7} {val('ece'):>6} {val('brier'):>6} "
                     f"{val('auroc'):>6} {val('confidence_std'):>7}")
    # SimpleQA's metrics say more than accuracy only where answers go unattempted (or on SimpleQA)
    abstained = any((row.get("simpleqa") or {}).get("not_attempted") for row in report["rows"])
    for row in report["rows"] if abstained or report.get("task") == "simpleqa" else []:
        sq = row.get("simpleqa")
        if sq and sq["f_score"] is not None and not row.get("calibrator"):
            given = sq["accuracy_given_attempted"]
            given = "n/a" if given is None else f"{given:.3f}"
            lines.append(f"SimpleQA {_row_name(row)}/{row['extractor']}: correct {sq['correct']:.3f}, "
                         f"not attempted {sq['not_attempted']:.3f}, accuracy given attempted {given}, "
                         f"F-score {sq['f_score']:.3f}")
    return "\n".join(lines)


def load_report(run: Path) -> dict[str, Any]:
    path = Path(run) / "report.json"
    if not Path(run).exists():
        raise InputError(f"{run}: no such run folder")
    if not path.is_file():
        raise InputError(f"{run}: no report.json (did the run finish?)")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(report, dict) or not str(report.get("schema", "")).startswith(
            "calibration-harness/report/"):
        raise InputError(f"{path}: not a calibration-harness report ({SCHEMA})")
    return report


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
        lines.append(f"| {entry['run']}{held} | {_row_name(entry)} | {entry['extractor']} | {entry['n']} | "
                     + " | ".join([_fmt(entry[n]) for n in HEADLINE]
                                  + [_fmt({"value": sq.get(n)}) for n in SIMPLEQA_COLUMNS]) + " |")
    return "\n".join(lines)


def check_run(run: Path, *, config_file: Path | None = None, thresholds: dict[str, Any] | None = None,
              bootstrap: str | None = None) -> tuple[bool, str]:
    """Recompute every verdict of ``run`` from its outcome files, with the thresholds in force:
    the defaults, the installed registry.toml's ``[criteria]``, ``config_file`` and ``thresholds``
    (never the run's own). The run's metric parameters and counting rules define what was measured."""
    from harness.machinery.config import Config, Layer
    from harness.statistics.assessment import RowKey, Settings, assess, posthoc_outcome
    from harness.statistics.criteria import thresholds_from

    run = Path(run)
    report = load_report(run)
    if report.get("schema") != SCHEMA or any("outcomes" not in r and not r.get("error")
                                             for r in report["rows"]):
        raise InputError(f"{run}: made by an older version without per-example outcome files; "
                         "it cannot be re-checked (rerun it)")
    if not report["comparisons"]:
        raise InputError(f"{run}: the run trained nothing, so there is nothing to check")
    user_config = Config.load(config_file)
    limits = thresholds_from(user_config, thresholds)
    metric_params = {e["name"]: e["params"] for e in report["strategies"].get("metrics", [])}
    config = user_config.with_layer(Layer(f"metric parameters of {run}", {"metric": metric_params}))
    held_out = _held_out(run)
    outcomes, fits = {}, {}
    for row in report["rows"]:
        key = RowKey(label=row["label"], extractor=row["extractor"], calibrator=row.get("calibrator"))
        if row.get("outcomes"):
            outcomes[key] = outcome_files.read(run / row["outcomes"])
        if row.get("calibrator_fit") is not None:
            fits[key] = row["calibrator_fit"]
    counting = report["counting"]
    names = report.get("metric_names")  # None: every metric, n/a where it cannot be computed
    own_missing = counting.get("missing_confidence_by_extractor") or {}
    settings = Settings(thresholds=limits, config=config, metric_names=names,
                        not_attempted=counting["not_attempted"],
                        missing_confidence=float(counting["missing_confidence"]),
                        missing_by_extractor={name: float(value) for name, value in own_missing.items()},
                        bootstrap=bootstrap or report["bootstrap"].get("requested", "group"),
                        seed=int(report.get("seed", 0)))
    assessed = assess(outcomes, report["trainers"], settings, held_out=held_out, fits=fits)
    lines = []
    if report.get("eval_task"):
        lines.append(f"trained on task {report['task']}, evaluated on task {report['eval_task']}")
    stored = report.get("thresholds") or {}
    differ = sorted(k for k in limits if k in stored and stored[k] != limits[k])
    if differ:
        made = ", ".join(f"{k} {stored[k]!r}" for k in differ)
        in_force = ", ".join(f"{k} {limits[k]!r}" for k in differ)
        lines.append(f"note: the run was made with other thresholds ({made}); "
                     f"checked against the ones in force ({in_force})")
    if held_out != report["held_out"]:
        lines.append(f"note: report.json says held_out={report['held_out']}, split.json says {held_out}")
    lines.append(reading_line(limits))
    not_passing = []
    for comp in assessed["comparisons"]:
        lines.append(f"{comp['trainer']} ({comp['extractor']}, {comp['paired_n']} paired examples, "
                     f"bootstrap over {assessed['bootstrap']['unit']}s): {comp['outcome'].upper()}")
        for v in comp["criteria"]:
            lines.append(f"  {MARKS[v['outcome']]} {v['name']}: {v['detail']}")
        for name in ("beats_posthoc", "adds_to_posthoc"):
            verdict = comp.get(name)
            gate = "required" if name in comp["required"] else "reported"
            if verdict is None:
                mark = MARKS["fail"] if gate == "required" else "  - "
                lines.append(f"  {mark} {name} ({gate}): n/a, the run has no post-hoc rows")
            else:
                outcome = posthoc_outcome(verdict)
                mark = (MARKS if gate == "required" else REPORTED)[outcome]
                lines.append(f"  {mark} {name} ({gate}): {verdict.get('detail') or verdict.get('error')}")
        if comp["outcome"] != "pass":
            which = comp.get("not_passed") or {"comparison": "fail"}
            not_passing.append(f"{comp['trainer']}: " + ", ".join(f"{n} {o}" for n, o in which.items()))
    ok = not not_passing
    lines.append("every verdict passed" if ok else
                 "not every verdict passed (exit 1): " + "; ".join(not_passing))
    return ok, "\n".join(lines)


#: check's mark per outcome of a gating verdict, and of a reported-only one
MARKS = {"pass": "ok  ", "fail": "FAIL", "inconclusive": "INCONCLUSIVE"}
REPORTED = {"pass": "yes ", "fail": "no  ", "inconclusive": "inconclusive"}


def reading_line(thresholds: dict[str, Any]) -> str:
    """Which reading decided the estimated criteria (calibration, accuracy, discrimination)."""
    if thresholds.get("point"):
        return ("reading: POINT (--point): the seed's reading, point estimates decide; "
                "not the default, and blind to the intervals")
    return ("reading: interval: calibration, accuracy and discrimination are decided by their paired 95% CIs "
            "(pass, fail or inconclusive)")


def _split_sets(run: Path) -> tuple[set[str], set[str]]:
    """What split.json says was trained on and evaluated: the ids, or, when the evaluated
    questions come from another task (``--eval-task``), the digests of the questions' text."""
    path = run / "split.json"
    try:
        split = json.loads(path.read_text(encoding="utf-8"))
        other_task = "test_questions" in split
        train_key, test_key = ("train_questions", "test_questions") if other_task else ("train", "test")
        return set(split[train_key]), set(split[test_key])
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(f"{path}: missing or unreadable; the run cannot be re-checked") from None


def _held_out(run: Path) -> bool:
    """Held out when the split's training and evaluated sets (``_split_sets``) exist and do not
    overlap: no shared id, or with ``--eval-task`` no question's text in both."""
    train, test = _split_sets(run)
    return bool(train) and bool(test) and not train & test
