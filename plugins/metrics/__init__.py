"""Built-in metrics plugin: registers the calibration metrics as plain functions.

Each metric is ``fn(confidence, correct, **params) -> float`` with a batched form for the
bootstrap (``harness.statistics.bootstrap.vectorized``); defaults are in registry.toml [metric.NAME].
"""

from __future__ import annotations

import harness
from harness.plugins.metrics.basic import accuracy, brier, confidence_std, mean_confidence
from harness.plugins.metrics.calibration import ece, rms_calib_err
from harness.plugins.metrics.debiased import debiased_calib_err
from harness.plugins.metrics.hle import hle_calib_err, hle_percent
from harness.plugins.metrics.ranking import accuracy_at_coverage, aurc, auroc

BUILTIN_METRICS = {
    "hle_calib_err": hle_calib_err,
    "rms_calib_err": rms_calib_err,
    "debiased_calib_err": debiased_calib_err,
    "ece": ece,
    "brier": brier,
    "auroc": auroc,
    "accuracy": accuracy,
    "mean_confidence": mean_confidence,
    "confidence_std": confidence_std,
    "aurc": aurc,
    "accuracy_at_coverage": accuracy_at_coverage,
}

__all__ = [*BUILTIN_METRICS, "hle_percent", "BUILTIN_METRICS"]


@harness.hookimpl
def register_metrics(register):  # type: ignore[no-untyped-def]
    for name, fn in BUILTIN_METRICS.items():
        register(name, fn)
