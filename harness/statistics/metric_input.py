"""Reading ``confidence`` / ``correct`` pairs for ``harness metrics``.

Any JSON Lines file with a ``confidence`` (a number in [0, 1]) and a ``correct`` (a
bool, or 0/1) per line. Every malformed line is an ``InputError`` that names the file
and the line; nothing is dropped silently and nothing is guessed (percentages are read
only with ``percent=True``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from harness.artifacts import read_jsonl
from harness.errors import InputError


def read_confidence_file(
    path: str | Path, *, percent: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Confidences (float64) and correctness (bool) of every line of ``path``."""
    read = read_jsonl(path, tolerate_torn=False)
    if not read.rows:
        raise InputError(f"{path}: empty file (no JSON lines)")
    confidence = np.empty(len(read.rows), dtype=np.float64)
    correct = np.empty(len(read.rows), dtype=bool)
    for i, (row, number) in enumerate(zip(read.rows, read.line_numbers, strict=True)):
        where = f"{path}:{number}"
        confidence[i] = _confidence(row, where, percent)
        correct[i] = _correct(row, where)
    return confidence, correct


def _confidence(row: dict, where: str, percent: bool) -> float:
    if "confidence" not in row:
        raise InputError(f"{where}: missing field 'confidence'")
    value = row["confidence"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(
            f"{where}: 'confidence' must be a number in [0, 1], got {type(value).__name__} {value!r}"
        )
    try:
        value = float(value)
    except OverflowError:  # an integer too large for a float
        raise InputError(f"{where}: 'confidence' is a huge integer, outside [0, 1]") from None
    if math.isnan(value) or math.isinf(value):
        raise InputError(f"{where}: 'confidence' is {value}, not a number in [0, 1]")
    if percent:
        if not 0.0 <= value <= 100.0:
            raise InputError(f"{where}: 'confidence' {value} is outside [0, 100] (--percent)")
        return value / 100.0
    if not 0.0 <= value <= 1.0:
        hint = " (percentages? pass --percent)" if 1.0 < value <= 100.0 else ""
        raise InputError(f"{where}: 'confidence' {value} is outside [0, 1]{hint}")
    return value


def _correct(row: dict, where: str) -> bool:
    if "correct" not in row:
        raise InputError(f"{where}: missing field 'correct'")
    value = row["correct"]
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    raise InputError(f"{where}: 'correct' must be true/false or 0/1, got {value!r}")
