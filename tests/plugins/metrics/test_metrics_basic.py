"""accuracy, mean_confidence, confidence_std and brier by hand; registration and registry defaults."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from harness.machinery import registry
from harness.machinery.config import Config
from harness.plugins.metrics import BUILTIN_METRICS, accuracy, brier, confidence_std, mean_confidence


def test_summary_metrics_by_hand() -> None:
    confidence = np.array([0.8, 0.3, 0.6, 0.5])
    correct = np.array([True, False, True, True])
    assert accuracy(confidence, correct) == 0.75
    assert mean_confidence(confidence, correct) == pytest.approx(0.55)
    # (0.04 + 0.09 + 0.16 + 0.25) / 4
    assert brier(confidence, correct) == pytest.approx(0.135)
    assert confidence_std([0.2, 0.4], [1, 0]) == pytest.approx(0.1)  # population std
    assert confidence_std([0.9] * 5, [1, 0, 1, 0, 1]) == 0.0


def test_every_builtin_metric_is_registered_and_its_defaults_equal_its_registry_table() -> None:
    shipped = Config.load().layers[0].data["metric"]
    for name, fn in BUILTIN_METRICS.items():
        strategy = registry.get("metric", name)
        assert strategy.factory is fn
        own = {k: p.default for k, p in list(inspect.signature(fn).parameters.items())[2:]}
        assert dict(shipped[name]) == own, name
        assert callable(getattr(fn, "batched", None)), f"{name} has no batched form for the bootstrap"


def test_registry_parameters_reach_the_metric() -> None:
    confidence = np.array([0.05, 0.15, 0.15, 0.95])
    correct = np.array([0, 1, 0, 1])
    one_bin = registry.create("metric", "ece", Config.load(overrides=["metric.ece.bins=1"]))
    assert one_bin(confidence, correct) == pytest.approx(0.175)
