"""What the built-in calibrators share: the check of the answers they are fitted on, and the
reading of a saved state (``fitted()``) that ``restore`` loads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from harness.errors import InputError, InsufficientDataError

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


def state_numbers(name: str, state: Mapping[str, Any], key: str, *, length: int | None = None) -> np.ndarray:
    """``state[key]`` of a saved ``fitted()`` as a finite 1-D float64 array (of ``length`` when
    given); one ``InputError`` line naming the calibrator and the key otherwise."""
    try:
        values = np.asarray(state[key], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        raise InputError(f"calibrator {name!r}: the saved state has no list of numbers {key!r}") from None
    if values.ndim != 1 or not np.all(np.isfinite(values)) or (length is not None and len(values) != length):
        expected = f" of {length}" if length is not None else ""
        raise InputError(f"calibrator {name!r}: the saved {key!r} is not a list{expected} of finite numbers")
    return values


def state_number(name: str, state: Mapping[str, Any], key: str) -> float:
    """``state[key]`` of a saved ``fitted()`` as a finite float; one ``InputError`` line otherwise."""
    value = state.get(key) if isinstance(state, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise InputError(f"calibrator {name!r}: the saved state has no finite number {key!r} (got {value!r})")
    return float(value)
