"""Scoring: every selected metric of one set of (confidence, correct) pairs.

Resolves metrics through the registry (so third-party metrics are scored like built-in
ones) and returns a JSON-ready dict: ``{"n": ..., "metrics": {name: {"value", "ci", "error"}}}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from harness import registry
from harness.config import Config
from harness.errors import HarnessError


def score(
    confidence: np.ndarray,
    correct: np.ndarray,
    names: Sequence[str] | None = None,
    config: Config | None = None,
    *,
    resamples: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    config = config or Config.load()
    explicit = names is not None
    names = list(names) if names is not None else registry.names("metric")
    metrics: dict[str, Any] = {}
    for name in names:
        fn = registry.create("metric", name, config)
        try:
            value = float(fn(confidence, correct))
        except HarnessError as exc:
            if explicit:
                raise
            metrics[name] = {"value": None, "ci": None, "error": str(exc)}
            continue
        metrics[name] = {"value": value, "ci": None, "error": None}
    return {"n": int(len(confidence)), "metrics": metrics}
