"""Built-in post-hoc calibrators: ``temperature``, ``platt``, ``isotonic`` and ``histogram``.

Each maps a confidence to a calibrated one, fitted on judged answers the core chooses
(``harness.statistics.posthoc``: cross-fitted on held-out answers). The protocol is
``harness.strategies.Calibrator``; the core's side is ``harness.statistics.calibration``. NumPy only;
defaults are in registry.toml [calibrator.NAME].
"""

from __future__ import annotations

import harness
from harness.plugins.calibrators.histogram import HistogramCalibrator
from harness.plugins.calibrators.isotonic import IsotonicCalibrator
from harness.plugins.calibrators.logit import PlattCalibrator, TemperatureCalibrator

BUILTIN_CALIBRATORS = {
    "temperature": TemperatureCalibrator,
    "platt": PlattCalibrator,
    "isotonic": IsotonicCalibrator,
    "histogram": HistogramCalibrator,
}

__all__ = [*(c.__name__ for c in BUILTIN_CALIBRATORS.values()), "BUILTIN_CALIBRATORS"]


@harness.hookimpl
def register_calibrators(register):  # type: ignore[no-untyped-def]
    for name, factory in BUILTIN_CALIBRATORS.items():
        register(name, factory)
