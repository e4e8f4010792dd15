"""Post-hoc rows: each calibrator fitted on a model's judged *training-split* answers, applied to
its held-out outcomes.

For a model and extractor, the training split's outcomes are counted exactly as a report row
is (``harness.outcomes.count``: missing confidences imputed, abstentions by the judge's
policy), the calibrator is fitted on those arrays only, and the held-out outcomes get the
calibrated confidence (a missing one is imputed first, then mapped). A calibrator that
cannot be fitted (one class only, too few answers) yields no outcomes and its reason; the
run goes on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from harness.config import Config
from harness.errors import HarnessError
from harness.outcomes import MISSING_CONFIDENCE, Outcome, count


def calibrate(
    name: str,
    config: Config,
    train: Sequence[Outcome],
    test: Sequence[Outcome],
    *,
    not_attempted: str = "incorrect",
    missing_confidence: float = MISSING_CONFIDENCE,
) -> tuple[list[Outcome] | None, dict[str, Any]]:
    """(calibrated held-out outcomes or None, the fitted parameters or ``{"error": reason}``)."""
    from harness.calibration import fit_calibrator

    fitted_on = count(train, not_attempted=not_attempted, missing_confidence=missing_confidence)
    try:
        fitted = fit_calibrator(name, config, fitted_on.confidence, fitted_on.correct)
        raw = np.array([missing_confidence if o.confidence is None else o.confidence for o in test],
                       dtype=np.float64)
        mapped = fitted.apply(raw) if len(raw) else raw
    except HarnessError as exc:
        return None, {"error": f"{name} could not be fitted: {exc}", "fitted_on": fitted_on.counts["scored"]}
    out = [o.with_confidence(float(c)) for o, c in zip(test, mapped, strict=True)]
    return out, {**fitted.fitted, "fitted_on": fitted_on.counts["scored"]}


def fitted_summary(fit: Mapping[str, Any]) -> str:
    """One line of a fit's parameters for the report."""
    if "error" in fit:
        return str(fit["error"])
    parts = []
    for key, value in fit.items():
        if isinstance(value, float):
            parts.append(f"{key} {value:.4g}")
        elif isinstance(value, (int, str, bool)):
            parts.append(f"{key} {value}")
        elif isinstance(value, (list, tuple)):
            parts.append(f"{key} ({len(value)} values)")
    return ", ".join(parts)
