"""Built-in metrics plugin: registers the calibration metrics as plain functions."""

from __future__ import annotations

import numpy as np

import harness


def accuracy(confidence: np.ndarray, correct: np.ndarray) -> float:
    """Fraction of answers judged correct."""
    return float(np.mean(correct))


def mean_confidence(confidence: np.ndarray, correct: np.ndarray) -> float:
    """Average stated or implied confidence."""
    return float(np.mean(confidence))


@harness.hookimpl
def register_metrics(register):  # type: ignore[no-untyped-def]
    register("accuracy", accuracy)
    register("mean_confidence", mean_confidence)
