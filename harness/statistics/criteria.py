"""Success criteria: did calibration training work? One verdict per criterion, with its numbers.

Compares a trained model with its baseline on the same examples (same order). Criteria that
rest on an estimate are read from one paired bootstrap (``groups``: resample groups, e.g.
entities, instead of examples) and are ``pass``, ``fail`` or ``inconclusive``:

- ``calibration``: the calibration error (``metric``, default ``debiased_calib_err``) falls by
  at least ``min_reduction`` relative to the baseline. Pass: the point reduction meets it and
  the paired CI of trained - baseline lies below 0; fail: the paired CI of
  trained - (1 - min_reduction) x baseline lies above 0; else inconclusive;
- ``accuracy`` (non-inferiority): pass when the paired CI's lower bound of the change is at
  or above -``max_accuracy_drop``, fail when its upper bound is below it;
- ``discrimination`` (non-inferiority of AUROC): the same against ``min_auroc_change``.

Criteria without an estimate pass or fail:

- ``held_out``: the evaluation questions were held out from training (fails on an
  ``--eval-on-train`` run unless ``allow_not_held_out``);
- ``sample_size``: at least ``min_n`` paired examples in at least ``min_groups`` groups;
- ``coverage``: the trained model answers (attempts, with a confidence of its own) at least
  as many of the judged examples as the baseline, less ``coverage_tolerance`` — a model
  that learns to say nothing on hard questions improves every other criterion;
- ``not_collapsed``: the trained confidences keep a spread (std >= ``min_confidence_std``)
  *and* no tenth of [0, 1] holds more than ``max_bin_share`` of them.

Reported beside them, gating only when listed in ``require`` (``OPTIONAL``): the post-hoc
verdicts (``harness.statistics.posthoc_bar``) and ``risk``, the trained row's abstention at
``risk_alpha`` / ``risk_delta`` (``harness.statistics.abstention.risk_verdict``).

With ``point`` (``harness check --point``) the three estimated criteria are read from their
point estimates instead — the seed's reading, labelled as such in every detail, never the
default. ``strict`` is the old name of the interval reading and changes nothing; it contradicts
``point``. Without an interval (no resamples) the interval reading is inconclusive.

Thresholds: ``DEFAULTS`` < the ``[criteria]`` table of the config layers < explicit
overrides (``thresholds_from``); never from a run folder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from harness.errors import HarnessError, InputError, ParameterError
from harness.machinery import registry
from harness.machinery.config import Config
from harness.statistics.bootstrap import DEFAULT_RESAMPLES, draw, percentile_interval, replicate_all
from harness.statistics.scoring import as_inputs

DEFAULTS: dict[str, Any] = {
    "metric": "debiased_calib_err",
    "min_reduction": 0.10,
    "max_accuracy_drop": 0.05,
    "min_confidence_std": 0.05,
    "max_bin_share": 0.9,
    "min_n": 100,
    "min_groups": 30,
    "coverage_tolerance": 0.01,
    "min_auroc_change": -0.05,
    "point": False,
    "strict": False,
    "allow_not_held_out": False,
    "require": [],
    # abstention with a guarantee (harness.statistics.abstention): risk level and failure probability
    "risk_alpha": 0.1,
    "risk_delta": 0.1,
}
NUMBERS = ("min_reduction", "max_accuracy_drop", "min_confidence_std", "max_bin_share", "min_n", "min_groups",
           "coverage_tolerance", "min_auroc_change", "risk_alpha", "risk_delta")
FLAGS = ("point", "strict", "allow_not_held_out")
#: verdicts reported beside the criteria that gate only when named in ``require``
OPTIONAL = ("beats_posthoc", "adds_to_posthoc", "risk")
OUTCOMES = ("pass", "fail", "inconclusive")
TOLERANCE = 1e-9  # 0.65 - 0.60 is 0.05000000000000004: a drop of exactly 5 points passes
Run = tuple[np.ndarray, np.ndarray]


@attrs.frozen(kw_only=True)
class Verdict:
    """One criterion: its outcome, the number(s) behind it, and a sentence explaining it.

    ``outcome`` is "pass", "fail" or "inconclusive" (only a criterion read from an interval can
    be inconclusive); ``passed`` is ``outcome == "pass"``, kept for older readers. ``reading``
    says what decided: "interval" (the paired CIs in ``intervals``), "point" (``--point``), or
    None for a criterion with no estimate (``held_out``, ``sample_size``, ``coverage``,
    ``not_collapsed``)."""

    name: str
    outcome: str = attrs.field(validator=attrs.validators.in_(OUTCOMES))
    value: Any
    threshold: Any
    detail: str
    reading: str | None = None
    intervals: dict[str, list[float]] = attrs.field(factory=dict)

    @property
    def passed(self) -> bool:
        return self.outcome == "pass"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "outcome": self.outcome, "passed": self.passed, "value": self.value,
                "threshold": self.threshold, "detail": self.detail, "reading": self.reading,
                "intervals": dict(self.intervals)}


def verdict_outcome(verdict: Mapping[str, Any] | None) -> str | None:
    """A stored verdict's outcome (pass / fail / inconclusive); from ``passed`` in a run folder of
    an older version; None for no verdict."""
    if verdict is None:
        return None
    if verdict.get("outcome") in OUTCOMES:
        return str(verdict["outcome"])
    return "pass" if verdict.get("passed") else "fail"


def outcome_of(passed: bool) -> str:
    """A two-valued verdict's outcome."""
    return "pass" if passed else "fail"


def overall(outcomes: Sequence[str]) -> str:
    """"fail" if any fails, else "inconclusive" if any is, else "pass" (nothing at all: "fail")."""
    if not outcomes or "fail" in outcomes:
        return "fail"
    return "inconclusive" if "inconclusive" in outcomes else "pass"


def thresholds_from(
    config: Config | None = None, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``DEFAULTS`` < ``[criteria]`` of the config layers < ``overrides``; unknown keys are errors."""
    merged = dict(DEFAULTS)
    layered = (config or Config.load()).section("criteria")
    for source, table in (("[criteria]", layered), ("criteria", overrides)):
        for key, value in (table or {}).items():
            if key not in DEFAULTS:
                raise ParameterError(f"{source}: unknown key {key!r}; valid: {', '.join(DEFAULTS)}")
            if value is not None:
                merged[key] = value
    for key in NUMBERS:
        if isinstance(merged[key], bool) or not isinstance(merged[key], (int, float)) \
                or not np.isfinite(merged[key]):
            raise ParameterError(f"criteria {key} must be a number, got {merged[key]!r}")
    for key in ("min_n", "min_groups"):
        if merged[key] < 1 or merged[key] != int(merged[key]):
            raise ParameterError(f"criteria {key} must be a whole number >= 1, got {merged[key]!r}")
    for key in ("max_bin_share", "coverage_tolerance"):
        if not 0.0 <= merged[key] <= 1.0:
            raise ParameterError(f"criteria {key} must be in [0, 1], got {merged[key]!r}")
    for key in ("risk_alpha", "risk_delta"):
        if not 0.0 < merged[key] < 1.0:
            raise ParameterError(f"criteria {key} must lie strictly between 0 and 1, got {merged[key]!r}")
    for key in FLAGS:
        if not isinstance(merged[key], bool):
            raise ParameterError(f"criteria {key} must be true or false, got {merged[key]!r}")
    require = merged["require"]
    if isinstance(require, str):
        require = [require] if require else []
    if not isinstance(require, (list, tuple)) or any(r not in OPTIONAL for r in require):
        raise ParameterError(f"criteria require must list some of {', '.join(OPTIONAL)}, got {require!r}")
    merged["require"] = list(dict.fromkeys(require))
    if merged["strict"] and merged["point"]:
        raise ParameterError("criteria strict and point contradict each other: strict asks for the interval "
                             "reading (the default), point for the point estimates")
    if not isinstance(merged["metric"], str) or not merged["metric"]:
        raise ParameterError(f"criteria metric must be a metric name, got {merged['metric']!r}")
    return merged


def tenth_shares(confidence: np.ndarray) -> np.ndarray:
    """Share of the confidences in each tenth of [0, 1]: [0, .1), ..., [.9, 1]."""
    tenth = np.minimum(np.floor(np.asarray(confidence) * 10).astype(np.int64), 9)
    return np.bincount(tenth, minlength=10) / max(len(confidence), 1)


def evaluate_criteria(
    baseline: Run,
    trained: Run,
    thresholds: Mapping[str, Any] | None = None,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    config: Config | None = None,
    groups: Sequence[Any] | None = None,
    coverage: tuple[float, float] | None = None,
    held_out: bool | None = None,
) -> list[Verdict]:
    """Verdicts of ``trained`` against ``baseline`` (the same examples in the same order).

    ``coverage`` is (baseline, trained) share of answered examples; ``held_out`` whether the
    evaluation questions were held out. Either, when None, leaves its criterion out.
    """
    config = config or Config.load()
    limits = thresholds_from(config, thresholds)
    base, new = as_inputs(*baseline), as_inputs(*trained)
    if len(base[0]) != len(new[0]) or len(base[0]) == 0:
        raise InputError(
            "criteria compare two runs on the same examples in the same order: "
            f"{len(base[0])} vs {len(new[0])} answers"
        )
    metric = str(limits["metric"])
    fns = {name: registry.create("metric", name, config) for name in (metric, "accuracy", "auroc")}
    computable = {name: fn for name, fn in fns.items() if _computable(fn, base, new)}
    reps: dict[str, np.ndarray] = {}
    if resamples > 0 and computable:
        reps = replicate_all(computable, [base, new], draw(len(base[0]), resamples, seed, groups=groups))
    reading = "point" if limits["point"] else "interval"

    verdicts = []
    if held_out is not None:
        verdicts.append(_held_out(held_out, limits["allow_not_held_out"]))
    n_groups = len(set(groups)) if groups is not None else len(base[0])
    verdicts += [
        _sample_size(len(base[0]), n_groups, int(limits["min_n"]), int(limits["min_groups"])),
        _calibration(fns[metric], metric, base, new, limits, reps.get(metric), reading),
        _accuracy(fns["accuracy"], base, new, limits, reps.get("accuracy"), reading),
    ]
    if coverage is not None:
        verdicts.append(_coverage(*coverage, limits["coverage_tolerance"]))
    verdicts += [
        _discrimination(fns["auroc"], base, new, limits["min_auroc_change"], reps.get("auroc"), reading),
        _not_collapsed(base, new, limits, config),
    ]
    return verdicts


def _interval(values: np.ndarray) -> list[float] | None:
    return percentile_interval(np.asarray(values, dtype=np.float64))


def _ci_text(ci: list[float] | None, what: str = "the change") -> str:
    return "" if ci is None else f"paired 95% CI of {what} [{ci[0]:+.4f}, {ci[1]:+.4f}]"


def _no_interval(reading: str) -> tuple[str | None, str]:
    """The outcome and sentence where the interval reading has no interval (``resamples`` 0, or
    no finite replicate): inconclusive, never a pass by default."""
    return (None, "") if reading == "point" else (
        "inconclusive", "no paired CI (no bootstrap resamples, or none defined): inconclusive")


def _point_note(reading: str) -> str:
    if reading != "point":
        return ""
    return "; POINT READING (--point): the point estimate decided, not its interval"


def _held_out(held_out: bool, allowed: bool) -> Verdict:
    detail = ("evaluated on held-out questions" if held_out else
              "NOT held-out: evaluated on the training questions (--eval-on-train)"
              + ("; allowed by allow_not_held_out" if allowed else "; allow with --allow-not-held-out"))
    return Verdict(name="held_out", outcome=outcome_of(held_out or allowed), value=held_out,
                   threshold=not allowed, detail=detail)


def _sample_size(n: int, groups: int, minimum: int, min_groups: int = 1) -> Verdict:
    """Enough paired examples, and enough of the groups the bootstrap resamples (each example its
    own group when there are none)."""
    return Verdict(name="sample_size", outcome=outcome_of(n >= minimum and groups >= min_groups),
                   value={"examples": n, "groups": groups},
                   threshold={"min_n": minimum, "min_groups": min_groups},
                   detail=(f"{n} paired examples (needs >= {minimum}) in {groups} groups "
                           f"(needs >= {min_groups})"))


def _coverage(before: float, after: float, tolerance: float) -> Verdict:
    return Verdict(
        name="coverage", outcome=outcome_of(after >= before - tolerance - TOLERANCE), value=after - before,
        threshold=tolerance,
        detail=(f"answered with a confidence {before:.1%} -> {after:.1%} of the judged examples "
                f"({100 * (after - before):+.1f} points; allowed down to {-100 * tolerance:+.1f})"),
    )


def _three_valued(low: float, high: float, margin: float) -> str:
    """Non-inferiority of a change whose paired CI is [low, high] against ``margin`` (the least
    change allowed): pass when the whole CI is at or above it, fail when the whole CI is below it."""
    if low >= margin - TOLERANCE:
        return "pass"
    if high < margin - TOLERANCE:
        return "fail"
    return "inconclusive"


def _discrimination(fn: Any, base: Run, new: Run, minimum: float, reps: np.ndarray | None,
                    reading: str) -> Verdict:
    try:
        before, after = float(fn(*base)), float(fn(*new))
    except HarnessError as exc:
        return Verdict(name="discrimination", outcome="fail", value=None, threshold=minimum,
                       detail=f"AUROC cannot be computed: {exc}")
    change = after - before
    ci = None if reps is None else _interval(reps[1] - reps[0])
    head = (f"AUROC {before:.4f} -> {after:.4f} ({change:+.4f}; allowed down to {minimum:+.4f})"
            + ("" if ci is None else "; " + _ci_text(ci)))
    if reading == "point":
        outcome = outcome_of(change >= minimum - TOLERANCE)
        how = _point_note(reading)
    elif ci is None:
        outcome, how = "inconclusive", "; " + _no_interval(reading)[1]
    else:
        outcome = _three_valued(ci[0], ci[1], minimum)
        how = {"pass": "; its lower bound is at or above the allowed change",
               "fail": "; its upper bound is below the allowed change",
               "inconclusive": "; it straddles the allowed change: inconclusive"}[outcome]
    return Verdict(name="discrimination", outcome=outcome, value=change, threshold=minimum, detail=head + how,
                   reading=reading, intervals={} if ci is None else {"change": ci})


def _computable(fn: Any, *runs: Run) -> bool:
    try:
        for run in runs:
            fn(*run)
    except HarnessError:
        return False
    return True


def _calibration(fn: Any, metric: str, base: Run, new: Run, limits: Mapping[str, Any],
                 reps: np.ndarray | None, reading: str) -> Verdict:
    """The calibration error must fall by ``min_reduction`` (relative). Interval reading: with
    ``keep = 1 - min_reduction``, pass when the point reduction meets it and the paired CI of
    trained - baseline lies below 0 (an improvement, shown; for a negative ``min_reduction``, an
    allowed rise, the CI of trained - keep x baseline must lie below 0 instead); fail when the
    paired CI of trained - keep x baseline lies above 0 (the reduction is shown not to be met);
    else inconclusive."""
    minimum = limits["min_reduction"]
    try:
        before, after = float(fn(*base)), float(fn(*new))
    except HarnessError as exc:
        return Verdict(name="calibration", outcome="fail", value=None, threshold=minimum,
                       detail=f"{metric} cannot be computed: {exc}")
    # A baseline error of 0 (a debiased estimate within its noise) has no relative reduction: the
    # point cannot meet one, but the interval can still show the trained model worse than keep x it.
    reduction = (before - after) / before if before > 0.0 else None
    keep = 1.0 - minimum
    change = margin = None
    if reps is not None:
        change, margin = _interval(reps[1] - reps[0]), _interval(reps[1] - keep * reps[0])
    meets = reduction is not None and reduction >= minimum - TOLERANCE
    label = f"trained - {keep:g} x baseline"
    head = f"{metric} {before:.4f} -> {after:.4f} " + (
        f"({-reduction:+.1%} relative; needs <= {-minimum:+.1%})" if reduction is not None else
        "(the baseline's error is 0: no relative reduction is defined, so the point cannot meet one)")
    shown = [t for t in (_ci_text(change), _ci_text(margin, label)) if t]
    head += "".join("; " + t for t in shown)
    if reading == "point":
        outcome, how = outcome_of(meets), _point_note(reading)
    elif change is None or margin is None:
        outcome, how = "inconclusive", "; " + _no_interval(reading)[1]
    elif margin[0] > TOLERANCE:
        outcome, how = "fail", f"; the CI of {label} is above 0: the reduction is shown not to be met"
    elif meets and (change if keep <= 1.0 else margin)[1] < 0.0:
        outcome, how = "pass", ("; the point meets the reduction and the CI of the change is below 0"
                                if keep <= 1.0 else f"; the point meets it and the CI of {label} is below 0")
    else:
        why = ("no relative reduction is defined" if reduction is None else
               "the point misses the reduction" if not meets else
               "the CI of the change reaches 0 (no improvement)" if keep <= 1.0 else
               f"the CI of {label} reaches 0")
        outcome, how = "inconclusive", f"; {why}, and the reduction is not excluded: inconclusive"
    intervals = {k: v for k, v in (("change", change), (label, margin)) if v is not None}
    return Verdict(name="calibration", outcome=outcome, value=reduction, threshold=minimum, detail=head + how,
                   reading=reading, intervals=intervals)


def _accuracy(fn: Any, base: Run, new: Run, limits: Mapping[str, Any], reps: np.ndarray | None,
              reading: str) -> Verdict:
    """Non-inferiority: pass when the paired CI's lower bound of the change is at or above
    -``max_accuracy_drop``, fail when its upper bound is below it, else inconclusive."""
    maximum = limits["max_accuracy_drop"]
    before, after = float(fn(*base)), float(fn(*new))
    drop = before - after
    ci = None if reps is None else _interval(reps[1] - reps[0])
    head = (f"accuracy {before:.4f} -> {after:.4f} ({100 * (after - before):+.1f} points; "
            f"allowed down to {-100 * maximum:+.1f})" + ("" if ci is None else "; " + _ci_text(ci)))
    if reading == "point":
        outcome, how = outcome_of(drop <= maximum + TOLERANCE), _point_note(reading)
    elif ci is None:
        outcome, how = "inconclusive", "; " + _no_interval(reading)[1]
    else:
        outcome = _three_valued(ci[0], ci[1], -maximum)
        how = {"pass": "; its lower bound is at or above the allowed drop",
               "fail": "; its upper bound is below the allowed drop",
               "inconclusive": "; it straddles the allowed drop: inconclusive"}[outcome]
    return Verdict(name="accuracy", outcome=outcome, value=drop, threshold=maximum, detail=head + how,
                   reading=reading, intervals={} if ci is None else {"change": ci})


def _auroc(run: Run, config: Config) -> float | None:
    try:
        return float(registry.create("metric", "auroc", config)(*run))
    except HarnessError:
        return None  # every answer correct, or every answer wrong


def _not_collapsed(base: Run, new: Run, limits: Mapping[str, Any], config: Config) -> Verdict:
    std = float(np.std(new[0]))
    shares = tenth_shares(new[0])
    fullest = int(np.argmax(shares))
    auroc, auroc_before = _auroc(new, config), _auroc(base, config)
    spread_ok = std >= limits["min_confidence_std"] - TOLERANCE
    bins_ok = shares[fullest] <= limits["max_bin_share"] + TOLERANCE
    low, high = fullest / 10, (fullest + 1) / 10

    def fmt(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    detail = (
        f"confidence std {std:.4f} (needs >= {limits['min_confidence_std']}); "
        f"{shares[fullest]:.1%} of confidences in [{low:.1f}, {high:.1f}{']' if fullest == 9 else ')'} "
        f"(needs <= {limits['max_bin_share']:.0%}); "
        f"AUROC {fmt(auroc_before)} -> {fmt(auroc)}"
    )
    return Verdict(
        name="not_collapsed",
        outcome=outcome_of(bool(spread_ok and bins_ok)),
        value={"confidence_std": std, "max_bin_share": float(shares[fullest]), "auroc": auroc,
               "auroc_baseline": auroc_before},
        threshold={key: limits[key] for key in ("min_confidence_std", "max_bin_share")},
        detail=detail,
    )
