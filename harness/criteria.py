"""Success criteria: did calibration training work? One verdict per criterion, with its numbers.

Compares a trained model with its baseline on the same examples (same order):

- ``held_out``: the evaluation questions were held out from training (fails on an
  ``--eval-on-train`` run unless ``allow_not_held_out``);
- ``sample_size``: at least ``min_n`` paired examples;
- ``calibration``: the calibration error (``metric``, default ``rms_calib_err``) falls by at
  least ``min_reduction`` relative to the baseline;
- ``accuracy``: accuracy falls by at most ``max_accuracy_drop`` (absolute);
- ``coverage``: the trained model answers (attempts, with a confidence of its own) at least
  as many of the judged examples as the baseline, less ``coverage_tolerance`` — a model
  that learns to say nothing on hard questions improves every other criterion;
- ``discrimination``: AUROC (does confidence rank right answers above wrong ones?) does not
  fall significantly: the upper bound of the paired CI of its change is >= ``min_auroc_change``;
- ``not_collapsed``: the trained confidences keep a spread (std >= ``min_confidence_std``)
  *and* no tenth of [0, 1] holds more than ``max_bin_share`` of them.

With ``strict``, ``calibration`` and ``accuracy`` use the paired 95% CI's bound on the
unfavourable side instead of the point estimate. Every interval comes from one paired
bootstrap (``groups``: resample groups, e.g. entities, instead of examples).

Thresholds: ``DEFAULTS`` < the ``[criteria]`` table of the config layers < explicit
overrides (``thresholds_from``); never from a run folder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from harness import registry
from harness.bootstrap import DEFAULT_RESAMPLES, draw, percentile_interval, replicate_all
from harness.config import Config
from harness.errors import HarnessError, InputError, ParameterError
from harness.scoring import as_inputs

DEFAULTS: dict[str, Any] = {
    "metric": "rms_calib_err",
    "min_reduction": 0.10,
    "max_accuracy_drop": 0.05,
    "min_confidence_std": 0.05,
    "max_bin_share": 0.9,
    "min_n": 100,
    "coverage_tolerance": 0.01,
    "min_auroc_change": 0.0,
    "strict": False,
    "allow_not_held_out": False,
    "require": [],
}
NUMBERS = ("min_reduction", "max_accuracy_drop", "min_confidence_std", "max_bin_share", "min_n",
           "coverage_tolerance", "min_auroc_change")
FLAGS = ("strict", "allow_not_held_out")
#: verdicts reported beside the criteria that gate only when named in ``require``
OPTIONAL = ("beats_posthoc", "adds_to_posthoc")
TOLERANCE = 1e-9  # 0.65 - 0.60 is 0.05000000000000004: a drop of exactly 5 points passes
Run = tuple[np.ndarray, np.ndarray]


@attrs.frozen(kw_only=True)
class Verdict:
    """One criterion: whether it passed, the number(s) behind it, and a sentence explaining it."""

    name: str
    passed: bool
    value: Any
    threshold: Any
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


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
    if merged["min_n"] < 1 or merged["min_n"] != int(merged["min_n"]):
        raise ParameterError(f"criteria min_n must be a whole number >= 1, got {merged['min_n']!r}")
    for key in ("max_bin_share", "coverage_tolerance"):
        if not 0.0 <= merged[key] <= 1.0:
            raise ParameterError(f"criteria {key} must be in [0, 1], got {merged[key]!r}")
    for key in FLAGS:
        if not isinstance(merged[key], bool):
            raise ParameterError(f"criteria {key} must be true or false, got {merged[key]!r}")
    require = merged["require"]
    if isinstance(require, str):
        require = [require] if require else []
    if not isinstance(require, (list, tuple)) or any(r not in OPTIONAL for r in require):
        raise ParameterError(f"criteria require must list some of {', '.join(OPTIONAL)}, got {require!r}")
    merged["require"] = list(dict.fromkeys(require))
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
    reps = None
    if resamples > 0 and computable:
        reps = replicate_all(computable, [base, new], draw(len(base[0]), resamples, seed, groups=groups))

    def change_ci(name: str) -> list[float] | None:
        if reps is None or name not in reps:
            return None
        return percentile_interval(reps[name][1] - reps[name][0])

    verdicts = []
    if held_out is not None:
        verdicts.append(_held_out(held_out, limits["allow_not_held_out"]))
    verdicts += [
        _sample_size(len(base[0]), int(limits["min_n"])),
        _calibration(fns[metric], metric, base, new, limits, change_ci(metric)),
        _accuracy(fns["accuracy"], base, new, limits, change_ci("accuracy")),
    ]
    if coverage is not None:
        verdicts.append(_coverage(*coverage, limits["coverage_tolerance"]))
    verdicts += [
        _discrimination(fns["auroc"], base, new, limits["min_auroc_change"], change_ci("auroc")),
        _not_collapsed(base, new, limits, config),
    ]
    return verdicts


def _ci_text(ci: list[float] | None) -> str:
    return "" if ci is None else f", paired 95% CI of the change [{ci[0]:+.4f}, {ci[1]:+.4f}]"


def _held_out(held_out: bool, allowed: bool) -> Verdict:
    detail = ("evaluated on held-out questions" if held_out else
              "NOT held-out: evaluated on the training questions (--eval-on-train)"
              + ("; allowed by allow_not_held_out" if allowed else "; allow with --allow-not-held-out"))
    return Verdict(name="held_out", passed=held_out or allowed, value=held_out, threshold=not allowed,
                   detail=detail)


def _sample_size(n: int, minimum: int) -> Verdict:
    return Verdict(name="sample_size", passed=n >= minimum, value=n, threshold=minimum,
                   detail=f"{n} paired examples (needs >= {minimum})")


def _coverage(before: float, after: float, tolerance: float) -> Verdict:
    return Verdict(
        name="coverage", passed=after >= before - tolerance - TOLERANCE, value=after - before,
        threshold=tolerance,
        detail=(f"answered with a confidence {before:.1%} -> {after:.1%} of the judged examples "
                f"({100 * (after - before):+.1f} points; allowed down to {-100 * tolerance:+.1f})"),
    )


def _discrimination(fn: Any, base: Run, new: Run, minimum: float, ci: list[float] | None) -> Verdict:
    try:
        before, after = float(fn(*base)), float(fn(*new))
    except HarnessError as exc:
        return Verdict(name="discrimination", passed=False, value=None, threshold=minimum,
                       detail=f"AUROC cannot be computed: {exc}")
    bound = ci[1] if ci is not None else after - before
    what = "upper bound of the paired 95% CI of the change" if ci is not None else "change (no CI)"
    return Verdict(
        name="discrimination", passed=bound >= minimum - TOLERANCE, value=after - before, threshold=minimum,
        detail=f"AUROC {before:.4f} -> {after:.4f} ({after - before:+.4f}); {what} {bound:+.4f} "
               f"(needs >= {minimum:+.4f})",
    )


def _computable(fn: Any, *runs: Run) -> bool:
    try:
        for run in runs:
            fn(*run)
    except HarnessError:
        return False
    return True


def _calibration(fn: Any, metric: str, base: Run, new: Run, limits: Mapping[str, Any],
                 ci: list[float] | None) -> Verdict:
    minimum = limits["min_reduction"]
    try:
        before, after = float(fn(*base)), float(fn(*new))
    except HarnessError as exc:
        return Verdict(name="calibration", passed=False, value=None, threshold=minimum,
                       detail=f"{metric} cannot be computed: {exc}")
    if before <= 0.0:
        return Verdict(name="calibration", passed=False, value=None, threshold=minimum,
                       detail=f"baseline {metric} is {before:.4f}: no relative reduction is defined")
    reduction = (before - after) / before
    judged, how = reduction, ""
    if limits["strict"]:
        if ci is None:
            how = "; strict: no CI, the point estimate decides"
        else:
            judged = -ci[1] / before
            how = f"; strict: judged on the CI's upper bound ({-judged:+.1%} relative)"
    return Verdict(
        name="calibration", passed=judged >= minimum - TOLERANCE, value=reduction, threshold=minimum,
        detail=(
            f"{metric} {before:.4f} -> {after:.4f} ({-reduction:+.1%} relative; "
            f"needs <= {-minimum:+.1%}){_ci_text(ci)}{how}"
        ),
    )


def _accuracy(fn: Any, base: Run, new: Run, limits: Mapping[str, Any], ci: list[float] | None) -> Verdict:
    maximum = limits["max_accuracy_drop"]
    before, after = float(fn(*base)), float(fn(*new))
    drop = before - after
    judged, how = drop, ""
    if limits["strict"]:
        if ci is None:
            how = "; strict: no CI, the point estimate decides"
        else:
            judged, how = -ci[0], f"; strict: judged on the CI's lower bound ({100 * ci[0]:+.1f} points)"
    return Verdict(
        name="accuracy", passed=judged <= maximum + TOLERANCE, value=drop, threshold=maximum,
        detail=(
            f"accuracy {before:.4f} -> {after:.4f} ({100 * (after - before):+.1f} points; "
            f"allowed down to {-100 * maximum:+.1f}){_ci_text(ci)}{how}"
        ),
    )


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
        passed=bool(spread_ok and bins_ok),
        value={"confidence_std": std, "max_bin_share": float(shares[fullest]), "auroc": auroc,
               "auroc_baseline": auroc_before},
        threshold={key: limits[key] for key in ("min_confidence_std", "max_bin_share")},
        detail=detail,
    )
