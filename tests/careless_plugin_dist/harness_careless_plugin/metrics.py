"""Metrics that fail in each way a metric can, one that takes a name the harness has, and one
with typed parameters."""

from __future__ import annotations

from typing import Literal

import numpy as np

import harness


def raises_metric(confidence: np.ndarray, correct: np.ndarray) -> float:
    raise RuntimeError("the plugin's own bug")


def nan_metric(confidence: np.ndarray, correct: np.ndarray) -> float:
    return float("nan")


def text_metric(confidence: np.ndarray, correct: np.ndarray) -> str:
    return "high"


def ece(confidence: np.ndarray, correct: np.ndarray, scale: float = 1.0) -> float:
    """Its own `ece`: the harness already has one."""
    return scale * float(abs(np.mean(confidence) - np.mean(correct)))


def choice_metric(
    confidence: np.ndarray, correct: np.ndarray, mode: Literal["mean", "max"] = "mean", bins: int = 10
) -> float:
    return float(np.mean(confidence) if mode == "mean" else np.max(confidence))


@harness.hookimpl
def register_metrics(register):  # type: ignore[no-untyped-def]
    register("raises_metric", raises_metric)
    register("nan_metric", nan_metric)
    register("text_metric", text_metric)
    register("ece", ece)
    register("choice_metric", choice_metric)
