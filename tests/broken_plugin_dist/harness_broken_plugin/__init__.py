"""A plugin that fails at import: it would register the metric ``broken_metric``, but
its SDK is not installed."""

from __future__ import annotations

import harness_missing_sdk_for_tests  # noqa: F401  (raises ModuleNotFoundError)

import harness


@harness.hookimpl
def register_metrics(register):  # type: ignore[no-untyped-def]
    register("broken_metric", lambda confidence, correct: 0.0)
