"""The ``isotonic`` calibrator: isotonic regression of correctness on the confidence.

As scikit-learn's ``IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1)``: answers
with one confidence are pooled into one point (their accuracy, weighted by their count;
like scikit-learn, a confidence less than 1e-15, float64's resolution, above the first of a
group joins that group), pool-adjacent-violators makes the points non-decreasing, points
inside a flat run are dropped, and a new confidence is mapped by linear interpolation
between the points (clipped to the end points outside them).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.errors import InputError
from harness.plugins.calibrators.common import fit_data, not_fitted, state_numbers
from harness.plugins.calibrators.pav import pool_adjacent_violators

RESOLUTION = float(np.finfo(np.float64).resolution)  # 1e-15


def tie_groups(confidence: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The points (each group's smallest confidence), each answer's group and each group's count."""
    points, index = np.unique(confidence, return_inverse=True)
    index = index.ravel()
    if len(points) > 1 and np.min(np.diff(points)) < RESOLUTION:  # near-ties: scikit-learn's rule
        starts = [0]
        for i in range(1, len(points)):
            if points[i] - points[starts[-1]] >= RESOLUTION:
                starts.append(i)
        group = np.searchsorted(starts, np.arange(len(points)), side="right") - 1
        points, index = points[starts], group[index]
    return points, index, np.bincount(index, minlength=len(points))


class IsotonicCalibrator:
    """The non-decreasing step-and-slope map of least squares (no parameters)."""

    name = "isotonic"

    def __init__(self) -> None:
        self.x: np.ndarray | None = None
        self.y: np.ndarray | None = None

    def fit(self, confidence: np.ndarray, correct: np.ndarray) -> None:
        conf, hit = fit_data(self.name, confidence, correct)
        points, index, counts = tie_groups(conf)
        hits = np.bincount(index, weights=hit.astype(np.float64), minlength=len(points))
        values = np.clip(pool_adjacent_violators(hits / counts, counts.astype(np.float64)), 0.0, 1.0)
        keep = np.ones(len(values), dtype=bool)  # a point equal to both neighbours adds nothing
        keep[1:-1] = (values[1:-1] != values[:-2]) | (values[1:-1] != values[2:])
        self.x, self.y = points[keep], values[keep]

    def __call__(self, confidence: np.ndarray) -> np.ndarray:
        if self.x is None or self.y is None:
            raise not_fitted(self.name)
        return np.interp(np.asarray(confidence, dtype=np.float64), self.x, self.y)

    def fitted(self) -> dict[str, Any]:
        if self.x is None or self.y is None:
            return {"breakpoints": 0}
        return {"breakpoints": len(self.x), "x": self.x.tolist(), "y": self.y.tolist()}

    def restore(self, state: dict[str, Any]) -> None:
        """Load what ``fitted()`` saved: the breakpoints ``x`` (increasing) and ``y`` (in [0, 1])."""
        x = state_numbers(self.name, state, "x")
        y = state_numbers(self.name, state, "y", length=len(x))
        if not len(x) or np.any(np.diff(x) <= 0) or np.any((y < 0) | (y > 1)):
            raise InputError("calibrator 'isotonic': the saved breakpoints are not increasing points "
                             "in [0, 1]")
        self.x, self.y = x, y
