"""Reports of a run: ``report.json`` (machine-readable), ``report.md`` (with the reliability
diagrams), the terminal summary, ``harness compare`` and the ``harness check`` CI gate.

``report.json`` schema (``"schema": "calibration-harness/report/v1"``):

- ``held_out`` (bool), ``note`` (str): whether the evaluation questions were held out;
- ``task``, ``model``, ``split`` (``train``, ``test`` sizes and the evaluated split's name);
- ``strategies``: every selected strategy with its effective parameters and source;
  ``seed_defaults``: the trainers' parameters without the model's profile; ``profile``;
- ``rows``: one per evaluated model and extractor: ``label`` (``baseline`` or the trainer),
  ``extractor``, ``model``, ``counts`` (examples, scored, missing_confidence, judge_errors,
  not_attempted, ...), ``judging`` (the judge runner's summary), ``metrics``
  (``{name: {"value", "ci": [lo, hi], "error"}}``);
- ``comparisons``: one per trainer: ``trainer``, ``extractor``, ``paired_n``, ``changes``
  (``{metric: {"a", "b", "diff", "ci"}}``: trained minus baseline, paired bootstrap),
  ``criteria`` (one verdict per criterion: name, passed, value, threshold, detail),
  ``passed``, and ``paired_file`` (the paired per-example values, for ``harness check``);
- ``diagrams``: ``{extractor: "diagrams/<extractor>.png"}``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness import stages
from harness.artifacts import JsonlAppender, read_jsonl, write_json_atomic, write_text_atomic
from harness.errors import InputError

SCHEMA = "calibration-harness/report/v1"
HEADLINE = ("accuracy", "hle_calib_err", "rms_calib_err", "ece", "brier", "auroc", "confidence_std")


def build_report(exp: Any, results: dict, models: dict, *, train: Sequence, test: Sequence,
                 test_name: str) -> dict[str, Any]:
    from harness.criteria import evaluate_criteria
    from harness.diagrams import reliability_diagram
    from harness.scoring import paired_difference, score

    spec, config = exp.spec, exp.config
    policy = exp.judge_settings.not_attempted
    held_out = test_name != "train"
    note = ("Evaluated on held-out questions (grouped split)." if test_name == "test"
            else "Evaluation only: every selected example, no training." if test_name == "all"
            else "NOT HELD-OUT: --eval-on-train re-evaluates on the training questions "
                 "(the seed's protocol); the gains below may be memorisation.")
    scored = {}
    rows = []
    for (label, extractor), result in results.items():
        s = stages.score_inputs(result["examples"], result["predictions"], result["judgments"], policy)
        scored[(label, extractor)] = s
        model = exp.base if label == "baseline" else models[label]
        rows.append({
            "label": label, "extractor": extractor, "model": model.to_dict(), "counts": s.counts,
            "judging": result["judging"],
            "metrics": score(s.confidence, s.correct, exp.metric_names, config,
                             resamples=1000, seed=spec.seed)["metrics"] if len(s.ids) else {},
        })
    comparisons = []
    thresholds = config.section("criteria")
    for trainer in models:
        extractor = exp.trainers[trainer].extractor
        base, trained = scored[("baseline", extractor)], scored[(trainer, extractor)]
        common = sorted(set(base.ids) & set(trained.ids))
        bi = {i: k for k, i in enumerate(base.ids)}
        ti = {i: k for k, i in enumerate(trained.ids)}
        a_idx = np.array([bi[i] for i in common], dtype=int)
        b_idx = np.array([ti[i] for i in common], dtype=int)
        pairs = (base.confidence[a_idx], base.correct[a_idx], trained.confidence[b_idx],
                 trained.correct[b_idx])
        paired_file = f"paired/{trainer}.jsonl"
        _write_paired(exp.out / paired_file, common, *pairs)
        changes = paired_difference(*pairs, exp.metric_names, config, resamples=1000, seed=spec.seed) \
            if common else {}
        verdicts = evaluate_criteria((pairs[0], pairs[1]), (pairs[2], pairs[3]), thresholds,
                                     seed=spec.seed, config=config) if common else []
        comparisons.append({
            "trainer": trainer, "extractor": extractor, "paired_n": len(common), "changes": changes,
            "criteria": [v.to_dict() for v in verdicts],
            "passed": bool(verdicts) and all(v.passed for v in verdicts), "paired_file": paired_file,
        })
    diagrams = {}
    for extractor in exp.reported:
        runs = [(label, s.confidence, s.correct) for (label, ext), s in scored.items()
                if ext == extractor and len(s.ids)]
        if runs:
            rel = f"diagrams/{extractor}.png"
            reliability_diagram(runs, exp.out / rel, title=f"{spec.task}, {spec.model}: {extractor}")
            diagrams[extractor] = rel
    return {
        "schema": SCHEMA, "held_out": held_out, "note": note, "task": spec.task, "model": spec.model,
        "split": {"train": len(train), "test": len(test), "evaluated": test_name},
        "strategies": exp.effective_config, "seed_defaults": exp.seed_defaults,
        "profile": exp.profile_source, "rows": rows, "comparisons": comparisons,
        "diagrams": diagrams, "seed": spec.seed,
    }


def _write_paired(path: Path, ids: list[str], ca, ka, cb, kb) -> None:  # type: ignore[no-untyped-def]
    path.unlink(missing_ok=True)
    with JsonlAppender(path) as out:
        for i, example_id in enumerate(ids):
            out.write({"example_id": example_id, "baseline_confidence": float(ca[i]),
                       "baseline_correct": bool(ka[i]), "trained_confidence": float(cb[i]),
                       "trained_correct": bool(kb[i])})


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


def render_markdown(report: dict[str, Any]) -> str:
    lines = [f"# Calibration report: {report['task']} on {report['model']}", ""]
    lines += [f"**{report['note']}**", ""]
    split = report["split"]
    lines += [f"- split: {split['train']} training / {split['test']} evaluated ({split['evaluated']})",
              f"- seed: {report['seed']}"]
    strategies = report["strategies"]
    for key in ("task", "backend", "judge"):
        lines.append(f"- {key}: `{strategies[key]['name']}` {json.dumps(strategies[key]['params'])}")
    for key in ("extractors", "trainers"):
        for entry in strategies[key]:
            lines.append(f"- {key[:-1]}: `{entry['name']}` {json.dumps(entry['params'])}")
    if report.get("profile"):
        lines += ["", f"Trainer parameters come from the {report['profile']} (the embedded model "
                  "needs far larger learning rates than the seed's 1-2B models); the seed's "
                  "registry defaults, for comparison:"]
        for name, params in report["seed_defaults"].items():
            lines.append(f"- `{name}` (registry.toml): {json.dumps(params)}")
    lines.append(f"- config layers: {', '.join(strategies['layers']) or 'defaults'}")
    lines += ["", "## Metrics (95% bootstrap CIs)", ""]
    names = [n for n in HEADLINE if any(n in r["metrics"] for r in report["rows"])]
    names += sorted({n for r in report["rows"] for n in r["metrics"]} - set(names))
    lines.append("| model | extractor | scored | " + " | ".join(names) + " |")
    lines.append("|" + " --- |" * (3 + len(names)))
    for row in report["rows"]:
        counts = row["counts"]
        cells = [_fmt(row["metrics"].get(n)) for n in names]
        lines.append(f"| {row['label']} | {row['extractor']} | {counts['scored']}/{counts['examples']} | "
                     + " | ".join(cells) + " |")
    hle_rows = [(r, r["metrics"].get("hle_calib_err") or {}) for r in report["rows"]]
    if any(e.get("value") is not None for _, e in hle_rows):
        lines += ["", "HLE's reported form (`100 * round(err, 2)`): " + ", ".join(
            f"{r['label']}/{r['extractor']} {e.get('hle_percent', 100 * round(e['value'], 2)):g}"
            for r, e in hle_rows if e.get("value") is not None)]
    lines += ["", "Left out of the metrics (counted, never hidden):", ""]
    for row in report["rows"]:
        c = row["counts"]
        lines.append(f"- {row['label']}/{row['extractor']}: missing confidence {c['missing_confidence']}, "
                     f"judge errors {c['judge_errors']}, not attempted {c['not_attempted']} "
                     f"({c['not_attempted_excluded']} excluded)")
    for comp in report["comparisons"]:
        lines += ["", f"## {comp['trainer']} vs baseline ({comp['extractor']}, paired on "
                  f"{comp['paired_n']} examples): {'PASS' if comp['passed'] else 'FAIL'}", ""]
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
            lines.append(f"| {v['name']} | {'pass' if v['passed'] else 'FAIL'} | {_num(v['value'])} | "
                         f"{_num(v['threshold'])} | {v['detail']} |")
    if report["diagrams"]:
        lines += ["", "## Reliability diagrams", ""]
        for extractor, rel in report["diagrams"].items():
            lines += [f"![{extractor}]({rel})", ""]
    return "\n".join(lines) + "\n"


def _num(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_num(v)}" for k, v in value.items())
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def summary_table(report: dict[str, Any]) -> str:
    lines = [report["note"]]
    lines.append(f"{'model':<12} {'extractor':<11} {'n':>5} {'acc':>6} {'rms_ce':>7} {'ece':>6} "
                 f"{'auroc':>6} {'conf_sd':>7}")
    for row in report["rows"]:
        m = row["metrics"]

        def val(name: str, m: dict = m) -> str:
            entry = m.get(name) or {}
            return f"{entry['value']:.3f}" if entry.get("value") is not None else "n/a"

        lines.append(f"{row['label']:<12} {row['extractor']:<11} {row['counts']['scored']:>5} "
                     f"{val('accuracy'):>6} {val('rms_calib_err'):>7} {val('ece'):>6} "
                     f"{val('auroc'):>6} {val('confidence_std'):>7}")
    for comp in report["comparisons"]:
        failed = [v["name"] for v in comp["criteria"] if not v["passed"]]
        verdict = "PASS" if comp["passed"] else f"FAIL ({', '.join(failed)})"
        lines.append(f"{comp['trainer']}: success criteria {verdict}")
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
    if not isinstance(report, dict) or report.get("schema") != SCHEMA:
        raise InputError(f"{path}: not a calibration-harness report ({SCHEMA})")
    return report


def compare_runs(runs: list[Path], *, as_json: bool = False) -> str:
    reports = [(run, load_report(run)) for run in runs]
    table = []
    for run, report in reports:
        for row in report["rows"]:
            table.append({"run": str(run), "label": row["label"], "extractor": row["extractor"],
                          "held_out": report["held_out"], "n": row["counts"]["scored"],
                          **{n: row["metrics"].get(n) for n in HEADLINE}})
    if as_json:
        return json.dumps(table, indent=2)
    head = "| run | model | extractor | n | " + " | ".join(HEADLINE) + " |"
    lines = [head, "|" + " --- |" * (4 + len(HEADLINE))]
    for entry in table:
        held = "" if entry["held_out"] else " (not held-out)"
        lines.append(f"| {entry['run']}{held} | {entry['label']} | {entry['extractor']} | {entry['n']} | "
                     + " | ".join(_fmt(entry[n]) for n in HEADLINE) + " |")
    return "\n".join(lines)


def check_run(run: Path, *, min_reduction: float | None = None, max_accuracy_drop: float | None = None,
              min_confidence_std: float | None = None) -> tuple[bool, str]:
    """Re-evaluate every trainer's criteria (thresholds from the run unless given)."""
    from harness.criteria import evaluate_criteria

    report = load_report(run)
    if not report["comparisons"]:
        raise InputError(f"{run}: the run trained nothing, so there is nothing to check")
    thresholds = dict(report["strategies"].get("criteria", {}))
    for key, value in (("min_reduction", min_reduction), ("max_accuracy_drop", max_accuracy_drop),
                       ("min_confidence_std", min_confidence_std)):
        if value is not None:
            thresholds[key] = value
    ok = True
    lines = []
    for comp in report["comparisons"]:
        rows = read_jsonl(Path(run) / comp["paired_file"]).rows
        if not rows:
            ok = False
            lines.append(f"{comp['trainer']}: FAIL (no paired examples)")
            continue
        base = (np.array([r["baseline_confidence"] for r in rows]),
                np.array([r["baseline_correct"] for r in rows], dtype=bool))
        trained = (np.array([r["trained_confidence"] for r in rows]),
                   np.array([r["trained_correct"] for r in rows], dtype=bool))
        verdicts = evaluate_criteria(base, trained, thresholds, seed=report.get("seed", 0))
        passed = all(v.passed for v in verdicts)
        ok = ok and passed
        lines.append(f"{comp['trainer']} ({comp['extractor']}): {'PASS' if passed else 'FAIL'}")
        for v in verdicts:
            lines.append(f"  {'ok  ' if v.passed else 'FAIL'} {v.name}: {v.detail}")
    if not report["held_out"]:
        lines.append("note: not held-out (--eval-on-train)")
    return ok, "\n".join(lines)
