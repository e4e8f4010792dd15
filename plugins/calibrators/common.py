"""What the built-in calibrators share: the check of the answers they are fitted on."""

from __future__ import annotations

import numpy as np

from harness.errors import InsufficientDataError

MIN_ANSWERS = 2


def fit_data(name: str, confidence: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Confidences as 1-D float64 and correctness as bool; ``InsufficientDataError`` with one
    sentence when they cannot be fitted: fewer than two answers, or one class only."""
    conf = np.asarray(confidence, dtype=np.float64).ravel()
    hit = np.asarray(correct, dtype=bool).ravel()
    if len(conf) != len(hit):
        raise ValueError(f"calibrator {name!r}: {len(conf)} confidences but {len(hit)} verdicts")
    if len(conf) < MIN_ANSWERS:
        raise InsufficientDataError(
            f"calibrator {name!r} needs at least {MIN_ANSWERS} training answers, got {len(conf)}"
        )
    right = int(hit.sum())
    if right in (0, len(hit)):
        which = "correct" if right else "wrong"
        raise InsufficientDataError(
            f"calibrator {name!r} needs both right and wrong training answers; all {len(hit)} are {which}"
        )
    return conf, hit


def not_fitted(name: str) -> RuntimeError:
    return RuntimeError(f"calibrator {name!r} is used before fit()")
