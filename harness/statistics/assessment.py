"""Everything a run concludes, computed from its per-example outcomes — by the report and by ``check``.

``assess`` takes the outcomes of every row (``harness.statistics.outcomes``: model, extractor and
optionally a post-hoc calibrator, each with its examples' grades and confidences) and the
settings in force, and returns:

- ``rows``: per row, the counts, every metric with its bootstrap CI, and SimpleQA's metrics
  of its grades (``harness.statistics.simpleqa_metrics``);
- ``comparisons``: per trainer, paired on the examples both rows scored,
  - the paired change of every metric, the success criteria (``harness.statistics.criteria``; each
    ``pass``, ``fail`` or ``inconclusive``), their ``outcome`` (fail if any required verdict
    fails, else inconclusive if any is, else pass), ``not_passed`` (``{verdict: outcome}``)
    and the ``reading`` that decided (``interval``, or ``point`` under ``--point``),
    ``retention`` (accuracy on the examples the baseline answered correctly) and a
    per-subgroup table when the task labels subgroups;
  - ``beats_posthoc``: the trained model's Brier score against the best post-hoc map of the
    baseline over every extractor, chosen on the training split (``harness.statistics.posthoc_bar``);
  - ``adds_to_posthoc``: every ``trainer + c`` against that map: does training add what a
    post-hoc map cannot? Both three-valued by the paired CI of the Brier difference;
  - ``risk``: the trained row's abstention at the run's risk level
    (``harness.statistics.abstention.risk_verdict``), gating under ``require``.

Every row also gets ``coverage_at_risk`` (``harness.statistics.abstention``): the share answered
under a threshold chosen with a risk guarantee on other folds of its answers, and the realised risk.

``harness run`` writes the report from it and ``harness check`` recomputes it from the run
folder's files with the thresholds in force, so both say the same thing on the same data.
Bootstraps resample groups (``unit = "group"``, e.g. the entity of ``facts``) when the
examples have them, else examples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from harness.errors import HarnessError
from harness.machinery import registry
from harness.machinery.config import Config
from harness.statistics.abstention import coverage_at_risk, risk_verdict
from harness.statistics.criteria import evaluate_criteria, overall, verdict_outcome
from harness.statistics.outcomes import MISSING_CONFIDENCE, Counted, Outcome, count
from harness.statistics.posthoc_bar import groups_of, paired_metric
from harness.statistics.scoring import paired_difference, score
from harness.statistics.simpleqa_metrics import simpleqa_intervals, simpleqa_metrics

BASELINE = "baseline"


@attrs.frozen(kw_only=True)
class RowKey:
    label: str  # "baseline" or a trainer's name
    extractor: str
    calibrator: str | None = None

    @property
    def slug(self) -> str:
        return "__".join(p for p in (self.label, self.extractor, self.calibrator) if p)

    @property
    def title(self) -> str:
        return self.label + (f" + {self.calibrator}" if self.calibrator else "")


@attrs.frozen(kw_only=True)
class Settings:
    """What the verdicts depend on besides the data; ``check`` rebuilds it, never from the run's criteria."""

    thresholds: Mapping[str, Any]
    config: Config  # metric parameters
    metric_names: Sequence[str] | None = None  # None: every registered metric
    not_attempted: str = "incorrect"
    missing_confidence: float = MISSING_CONFIDENCE
    #: an extractor's own value for a missing confidence (its ``missing_confidence``, e.g. verbalized's
    #: ``on_missing``), imputed by the core in place of ``missing_confidence`` for its rows
    missing_by_extractor: Mapping[str, float] = attrs.field(factory=dict)
    bootstrap: str = "group"  # "group" | "example"
    resamples: int = 1000
    seed: int = 0

    def missing_for(self, extractor: str) -> float:
        """The confidence the core imputes where ``extractor`` found none."""
        return float(self.missing_by_extractor.get(extractor, self.missing_confidence))


def assess(
    outcomes: Mapping[RowKey, Sequence[Outcome]],
    trainers: Mapping[str, str],
    settings: Settings,
    *,
    held_out: bool,
    fits: Mapping[RowKey, Mapping[str, Any]] | None = None,
    extractors: Sequence[str] = (),
    rows: bool = True,
) -> dict[str, Any]:
    """Rows, comparisons and verdicts; ``trainers`` maps each trainer to its evaluation extractor,
    ``fits`` each calibrated row to its calibrator's fitted parameters (or ``{"error": ...}``).
    With two or more ``extractors``, each of the others is compared with the first on the
    baseline's answers (``extractor_comparisons``). ``rows=False`` (``harness check``): the verdicts
    only — no row's metric table with its intervals, no SimpleQA intervals (``rows`` comes back
    empty); every verdict is computed exactly as with them."""
    fits = fits or {}
    counted = {key: count(rows, not_attempted=settings.not_attempted,
                          missing_confidence=settings.missing_for(key.extractor))
               for key, rows in outcomes.items()}
    table: list[dict[str, Any]] = []
    at_risk: dict[RowKey, dict[str, Any]] = {}  # each row's coverage_at_risk, computed once
    if rows:
        table = [_row(key, counted.get(key), fits.get(key), settings) for key in outcomes]
        for row, (key, items) in zip(table, outcomes.items(), strict=True):
            if row["counts"] is not None:
                row["coverage_at_risk"] = at_risk[key] = _coverage_at_risk(key, items, settings)
        for key, fit in fits.items():  # a calibrator that could not be fitted still gets its row
            if key not in outcomes:
                table.append(_row(key, None, fit, settings))
    for trainer, extractor in trainers.items():  # check computes no rows: the trained ones only
        key = RowKey(label=trainer, extractor=extractor)
        if key not in at_risk and key in outcomes and counted[key].counts["examples"]:
            at_risk[key] = _coverage_at_risk(key, outcomes[key], settings)
    comparisons = [_comparison(trainer, extractor, counted, settings, held_out, fits, at_risk)
                   for trainer, extractor in trainers.items()]
    if rows:
        simpleqa_intervals(table, comparisons, {key.slug: items for key, items in outcomes.items()},
                           by_group=settings.bootstrap == "group", resamples=settings.resamples,
                           seed=settings.seed)
    any_groups = any(g != i for c in counted.values() for g, i in zip(c.groups, c.ids, strict=True))
    unit = settings.bootstrap if any_groups else "example"
    return {"rows": table, "comparisons": comparisons,
            "extractor_comparisons": [_extractor_comparison(extractors[0], other, counted, settings)
                                      for other in extractors[1:]],
            "bootstrap": {"unit": unit, "resamples": settings.resamples, "seed": settings.seed,
                          "requested": settings.bootstrap}}


def _row(key: RowKey, c: Counted | None, fit: Mapping[str, Any] | None,
         settings: Settings) -> dict[str, Any]:
    row: dict[str, Any] = {"label": key.label, "extractor": key.extractor, "calibrator": key.calibrator,
                           "key": key.slug, "counts": None, "metrics": {}, "coverage": None}
    if fit is not None:
        row["calibrator_fit"] = dict(fit)
    if c is None:
        row["error"] = (fit or {}).get("error", "no outcomes")
        return row
    row["counts"], row["coverage"] = c.counts, c.coverage()
    row["simpleqa"] = simpleqa_metrics(c.counts)
    if c.ids:
        scored = score(c.confidence, c.correct, settings.metric_names, settings.config,
                       resamples=settings.resamples, seed=settings.seed, groups=groups_of(c, settings))
        row["metrics"] = scored["metrics"]
        if scored.get("failed"):  # a plugin metric that raised or returned no number
            row["failed_metrics"] = scored["failed"]
    return row


def _paired(a: Counted, b: Counted) -> tuple[Counted, Counted]:
    in_b = set(b.ids)
    common = [i for i in a.ids if i in in_b]
    return a.select(common), b.select(common)


def _coverage_at_risk(key: RowKey, items: Sequence[Outcome], settings: Settings) -> dict[str, Any]:
    """The row's ``coverage_at_risk`` at the run's ``risk_alpha`` / ``risk_delta``."""
    return coverage_at_risk(items, alpha=float(settings.thresholds["risk_alpha"]),
                            delta=float(settings.thresholds["risk_delta"]),
                            missing_confidence=settings.missing_for(key.extractor), seed=settings.seed,
                            resamples=settings.resamples, by_group=settings.bootstrap == "group")


def _comparison(trainer: str, extractor: str, counted: Mapping[RowKey, Counted], settings: Settings,
                held_out: bool, fits: Mapping[RowKey, Mapping[str, Any]] | None = None,
                at_risk: Mapping[RowKey, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    base_key, trained_key = RowKey(label=BASELINE, extractor=extractor), RowKey(label=trainer,
                                                                                extractor=extractor)
    comp: dict[str, Any] = {"trainer": trainer, "extractor": extractor, "paired_n": 0, "changes": {},
                            "criteria": [], "outcome": "fail", "passed": False, "retention": None,
                            "subgroups": [], "beats_posthoc": None, "adds_to_posthoc": None, "risk": None}
    if base_key not in counted or trained_key not in counted:
        comp["error"] = "the baseline or the trained model has no outcomes"
        return comp
    base, trained = _paired(counted[base_key], counted[trained_key])
    comp["paired_n"] = len(base.ids)
    if not base.ids:
        comp["error"] = "no example was scored for both models"
        comp["criteria"] = [v.to_dict() for v in _criteria(base, trained, settings, held_out)]
        return comp
    groups = groups_of(base, settings)
    comp["changes"] = paired_difference(base.confidence, base.correct, trained.confidence, trained.correct,
                                        settings.metric_names, settings.config, resamples=settings.resamples,
                                        seed=settings.seed, groups=groups)
    coverage = (counted[base_key].coverage(), counted[trained_key].coverage())
    verdicts = _criteria(base, trained, settings, held_out, coverage=coverage)
    comp["criteria"] = [v.to_dict() for v in verdicts]
    comp["retention"] = _retention(base, trained)
    comp["subgroups"] = _subgroups(base, trained, settings)
    accuracy = next((v.outcome for v in verdicts if v.name == "accuracy"), None)
    comp["beats_posthoc"] = _held_to_accuracy(_beats_posthoc(trained_key, counted, settings, fits or {}),
                                              accuracy)
    comp["adds_to_posthoc"] = _held_to_accuracy(
        _adds_to_posthoc(trainer, extractor, counted, settings, fits or {}), accuracy)
    comp["risk"] = risk_verdict((at_risk or {}).get(trained_key),
                                point=bool(settings.thresholds.get("point")))
    required = set(settings.thresholds.get("require") or ())
    gates = {v.name: v.outcome for v in verdicts}
    for name in ("beats_posthoc", "adds_to_posthoc", "risk"):
        if name in required:
            gates[name] = posthoc_outcome(comp[name])
    comp["required"] = sorted(required)
    comp["reading"] = "point" if settings.thresholds.get("point") else "interval"
    comp["outcome"] = overall(list(gates.values()))
    comp["not_passed"] = {name: outcome for name, outcome in gates.items() if outcome != "pass"}
    comp["passed"] = comp["outcome"] == "pass"
    return comp


def _held_to_accuracy(verdict: dict[str, Any] | None, accuracy: str | None) -> dict[str, Any] | None:
    """A post-hoc verdict can pass only where the trained model answers as well as the baseline.
    Each row's Brier score is of its own answers, so a model that stops answering right and says 0
    for every answer has a Brier score equal to its (low) accuracy and "beats" every map. The
    verdict's pass becomes ``fail`` when the accuracy criterion fails and ``inconclusive`` when it
    is inconclusive (the accuracy gate is stated in ``accuracy_gate`` and the detail)."""
    if not verdict or verdict.get("outcome") != "pass" or accuracy in (None, "pass"):
        return verdict
    outcome = "fail" if accuracy == "fail" else "inconclusive"
    return {**verdict, "outcome": outcome, "passed": False, "accuracy_gate": accuracy,
            "detail": f"{verdict.get('detail', '')}; but the trained model's accuracy criterion is "
                      f"{accuracy}, so a lower Brier score on its own answers shows nothing: {outcome}"}


def posthoc_outcome(verdict: Mapping[str, Any] | None) -> str:
    """A post-hoc verdict's outcome: its ``outcome``, else (an older verdict) pass/fail from
    ``passed``; no verdict at all (no post-hoc rows) fails where it is required."""
    return verdict_outcome(verdict) or "fail"


def _criteria(base: Counted, trained: Counted, settings: Settings, held_out: bool,
              coverage: tuple[float, float] | None = None) -> list[Any]:
    """The criteria; with no paired example, only those that need no data (and ``sample_size``)."""
    from harness.statistics.criteria import Verdict, _held_out, _sample_size

    if not base.ids:
        limits = settings.thresholds
        return [_held_out(held_out, bool(limits["allow_not_held_out"])),
                _sample_size(0, 0, int(limits["min_n"]), int(limits.get("min_groups", 1))),
                Verdict(name="calibration", outcome="fail", value=None, threshold=limits["min_reduction"],
                        detail="no paired examples")]
    return evaluate_criteria((base.confidence, base.correct), (trained.confidence, trained.correct),
                             settings.thresholds, resamples=settings.resamples, seed=settings.seed,
                             config=settings.config, groups=groups_of(base, settings), coverage=coverage,
                             held_out=held_out)


def _retention(base: Counted, trained: Counted) -> dict[str, Any]:
    """Accuracy of the trained model on the examples the baseline answered correctly."""
    known = base.correct
    n = int(known.sum())
    kept = int((trained.correct & known).sum())
    return {"n": n, "kept": kept, "value": kept / n if n else None}


def _point(name: str, c: Counted, config: Config) -> float | None:
    try:
        return float(registry.create("metric", name, config)(c.confidence, c.correct))
    except HarnessError:
        return None


def _subgroups(base: Counted, trained: Counted, settings: Settings) -> list[dict[str, Any]]:
    labels = sorted({s for s in base.subgroups if s is not None})
    metric = str(settings.thresholds["metric"])
    out = []
    for label in labels:
        ids = [i for i, s in zip(base.ids, base.subgroups, strict=True) if s == label]
        b, t = base.select(ids), trained.select(ids)
        out.append({"subgroup": label, "n": len(ids),
                    "accuracy": [float(b.correct.mean()), float(t.correct.mean())],
                    "mean_confidence": [float(b.confidence.mean()), float(t.confidence.mean())],
                    metric: [_point(metric, b, settings.config), _point(metric, t, settings.config)],
                    "retention": _retention(b, t)["value"]})
    return out


def _beats_posthoc(trained_key: RowKey, counted: Mapping[RowKey, Counted], settings: Settings,
                   fits: Mapping[RowKey, Mapping[str, Any]]) -> dict[str, Any] | None:
    """The trained model against the best post-hoc map of the baseline (``statistics.posthoc_bar``)."""
    from harness.statistics.posthoc_bar import beats_posthoc

    return beats_posthoc(trained_key, counted, fits, settings)


def _adds_to_posthoc(trainer: str, extractor: str, counted: Mapping[RowKey, Counted], settings: Settings,
                     fits: Mapping[RowKey, Mapping[str, Any]]) -> dict[str, Any] | None:
    """Every ``trainer + c`` against the best post-hoc map of the baseline (``statistics.posthoc_bar``)."""
    from harness.statistics.posthoc_bar import adds_to_posthoc

    return adds_to_posthoc(trainer, extractor, counted, fits, settings, baseline=BASELINE)


#: what an extractor is compared with the reference extractor on (paired, same questions)
EXTRACTOR_CHANGES = ("auroc", "brier", "rms_calib_err")


def _extractor_comparison(reference: str, other: str, counted: Mapping[RowKey, Counted],
                          settings: Settings) -> dict[str, Any]:
    """``other``'s baseline confidences against ``reference``'s on the examples both scored: the
    paired bootstrap change (other minus reference) of AUROC, Brier score and calibration error."""
    comp: dict[str, Any] = {"extractor": other, "reference": reference, "paired_n": 0, "changes": {}}
    a_key, b_key = RowKey(label=BASELINE, extractor=reference), RowKey(label=BASELINE, extractor=other)
    if a_key not in counted or b_key not in counted:
        comp["error"] = "one of the two extractors has no outcomes"
        return comp
    a, b = _paired(counted[a_key], counted[b_key])
    comp["paired_n"] = len(a.ids)
    if not a.ids:
        comp["error"] = "no example was scored under both extractors"
        return comp
    comp["changes"] = {name: paired_metric(name, a, b, settings) for name in EXTRACTOR_CHANGES}
    return comp
