"""Success criteria: did calibration training work? One verdict per criterion, with its numbers.

Compares a trained model with its baseline on the same examples (same order):

- ``calibration``: the calibration error (``metric``, default ``rms_calib_err``) falls by at
  least ``min_reduction`` relative to the baseline; the detail gives the paired-bootstrap
  interval of the change;
- ``accuracy``: accuracy falls by at most ``max_accuracy_drop`` (absolute);
- ``not_collapsed``: the trained confidences keep a spread (std >= ``min_confidence_std``)
  *and* no tenth of [0, 1] holds more than ``max_bin_share`` of them — a model that says
  0.9 to nearly everything can pass the std test alone thanks to a few outliers. AUROC
  (does confidence still rank correct answers first?) is reported beside it.

Thresholds come from the ``[criteria]`` table of registry.toml (``Config.section``), merged
over ``DEFAULTS``.
"""

from __future__ import annotations

from collections.abc import Mapping
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
}
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
    for key in ("min_reduction", "max_accuracy_drop", "min_confidence_std", "max_bin_share"):
        if isinstance(merged[key], bool) or not isinstance(merged[key], (int, float)):
            raise ParameterError(f"criteria {key} must be a number, got {merged[key]!r}")
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
) -> list[Verdict]:
    """Verdicts on calibration, accuracy and collapse of ``trained`` against ``baseline``."""
    config = config or Config.load()
    limits = thresholds_from(config, thresholds)
    base, new = as_inputs(*baseline), as_inputs(*trained)
    if len(base[0]) != len(new[0]) or len(base[0]) == 0:
        raise InputError(
            "criteria compare two runs on the same examples in the same order: "
            f"{len(base[0])} vs {len(new[0])} answers"
        )
    metric = str(limits["metric"])
    fns = {name: registry.create("metric", name, config) for name in (metric, "accuracy")}
    computable = {name: fn for name, fn in fns.items() if _computable(fn, base, new)}
    reps = None
    if resamples > 0 and computable:
        reps = replicate_all(computable, [base, new], draw(len(base[0]), resamples, seed))

    def change_ci(name: str) -> str:
        if reps is None or name not in reps:
            return ""
        ci = percentile_interval(reps[name][1] - reps[name][0])
        return "" if ci is None else f", paired 95% CI of the change [{ci[0]:+.4f}, {ci[1]:+.4f}]"

    return [
        _calibration(fns[metric], metric, base, new, limits["min_reduction"], change_ci),
        _accuracy(fns["accuracy"], base, new, limits["max_accuracy_drop"], change_ci),
        _not_collapsed(base, new, limits, config),
    ]


def _computable(fn: Any, *runs: Run) -> bool:
    try:
        for run in runs:
            fn(*run)
    except HarnessError:
        return False
    return True


def _calibration(fn: Any, metric: str, base: Run, new: Run, minimum: float, change_ci: Any) -> Verdict:
    try:
        before, after = float(fn(*base)), float(fn(*new))
    except HarnessError as exc:
        return Verdict(name="calibration", passed=False, value=None, threshold=minimum,
                       detail=f"{metric} cannot be computed: {exc}")
    if before <= 0.0:
        return Verdict(name="calibration", passed=False, value=None, threshold=minimum,
                       detail=f"baseline {metric} is {before:.4f}: no relative reduction is defined")
    reduction = (before - after) / before
    passed = reduction >= minimum - TOLERANCE
    return Verdict(
        name="calibration", passed=passed, value=reduction, threshold=minimum,
        detail=(
            f"{metric} {before:.4f} -> {after:.4f} ({-reduction:+.1%} relative; "
            f"needs <= {-minimum:+.1%}){change_ci(metric)}"
        ),
    )


def _accuracy(fn: Any, base: Run, new: Run, maximum: float, change_ci: Any) -> Verdict:
    before, after = float(fn(*base)), float(fn(*new))
    drop = before - after
    return Verdict(
        name="accuracy", passed=drop <= maximum + TOLERANCE, value=drop, threshold=maximum,
        detail=(
            f"accuracy {before:.4f} -> {after:.4f} ({100 * (after - before):+.1f} points; "
            f"allowed down to {-100 * maximum:+.1f}){change_ci('accuracy')}"
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
