"""Building a run's report: ``report.json`` (machine-readable) and ``report.md`` (with the
reliability diagrams; written by ``markdown``). ``compare`` and ``check`` read finished run folders
through ``run_folder``. ``report.md`` and the terminal summary open with the verdicts at a
glance (``markdown.conclusion_lines``, ``glance``): per trainer each criterion's outcome, the
post-hoc verdicts naming their map, the best row by Brier score and the reading that decided.

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
- ``columns``: the metric columns of the terminal summary and ``harness compare`` (the
  ``[report] columns`` setting; absent in older reports: ``run_folder.headline()``);
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
  ``coverage_at_risk`` (the share answered under a threshold chosen with a risk guarantee on
  other folds of the row's answers, and the realised risk, at ``thresholds``' ``risk_alpha`` /
  ``risk_delta``; see ``harness.statistics.abstention``),
  and for calibrated rows ``calibrator_fit`` (fitted parameters, ``fitted_on``, or ``error``);
- ``comparisons``: one per trainer: ``trainer``, ``extractor``, ``paired_n``, ``changes``
  (``{metric: {"a", "b", "diff", "ci"}}``: trained minus baseline, paired bootstrap),
  ``criteria`` (one verdict per criterion: name, outcome — ``pass``, ``fail`` or
  ``inconclusive`` — passed (outcome == pass), value, threshold, detail, reading —
  ``interval``, ``point`` or null — and intervals, the paired CIs that decided),
  ``retention``, ``subgroups``, ``beats_posthoc``, ``adds_to_posthoc`` and ``risk`` (the trained
  row's abstention verdict) (reported; gating only when listed in ``required``),
  ``outcome`` (fail if any gating verdict fails, else
  inconclusive if any is, else pass), ``not_passed`` (``{verdict: outcome}``), ``reading``,
  ``passed`` (outcome == pass), ``simpleqa_changes`` (``{name: {"value", "ci"}}`` of SimpleQA's
  metrics, trained minus baseline, paired bootstrap, and ``n``);
- ``diagrams``: ``{name: "diagrams/<name>.png"}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.artifacts import write_json_atomic, write_text_atomic
from harness.reporting.markdown import render_markdown
from harness.reporting.run_folder import SCHEMA, headline, held_out_split, split_sets
from harness.statistics import outcomes as outcome_files


def build_report(exp: Any, results: dict, on_train: dict, models: dict, *, train: Sequence,
                 test: Sequence, test_name: str, posthoc_note: str | None = None,
                 posthoc: bool | None = None) -> dict[str, Any]:
    """Outcome files, post-hoc rows, every verdict and the diagrams of a finished run.

    ``on_train``: the baseline's training-split results (the bar's selection and base rate);
    ``posthoc``: whether to fit post-hoc rows (default: when there are training results; an
    evaluation-only run fits them on its own answers, with no bar selected)."""
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
        trained_on, evaluated = split_sets(exp.out)  # the digests split.json holds, as check reads them
        shared = len(trained_on & evaluated)
        held_out = held_out_split(exp.out)
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
    scheme = posthoc_scheme(exp, training_split=test_name == "test")
    posthoc = bool(on_train) if posthoc is None else posthoc
    train_rows = {RowKey(label=label, extractor=extractor): outcome_files.collect(
        result["examples"], result["predictions"], result["judgments"])
        for (label, extractor), result in on_train.items()}
    fits: dict[Any, dict[str, Any]] = {}
    if posthoc:  # post-hoc rows: cross-fitted or on a calibration part (harness.statistics.posthoc)
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
        "posthoc": scheme.to_dict() if posthoc else None,
        "task": spec.task, "eval_task": spec.eval_task, "model": spec.model,
        "split": {"train": len(train), "test": len(test), "evaluated": test_name},
        "strategies": exp.effective_config, "seed_defaults": exp.seed_defaults,
        "profile": exp.profile_source, "seed": spec.seed,
        "counting": {"not_attempted": policy, "missing_confidence": settings.missing_confidence,
                     "missing_confidence_by_extractor": dict(missing)},
        "bootstrap": assessed["bootstrap"], "thresholds": thresholds, "trainers": trainers,
        "metric_names": exp.metric_names, "columns": list(getattr(exp, "report_columns", ()) or headline()),
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
                reliability_diagram(runs, exp.out / rel, title=title, config=exp.config)
                diagrams[extractor + suffix] = rel
    return diagrams


def write_report(folder: Path, report: dict[str, Any]) -> None:
    write_json_atomic(folder / "report.json", report)
    write_text_atomic(folder / "report.md", render_markdown(report))
