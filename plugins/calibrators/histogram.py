"""The ``histogram`` calibrator: equal-mass histogram binning.

The inner bin edges are the distinct ``k/bins`` quantiles of the training confidences
(ties can merge bins); a bin holds the confidences from its lower edge up to, not including,
its upper one. Each bin maps to the accuracy of its training answers (a bin that no training
answer falls in: the overall accuracy). With ``monotone = true`` the bin values are made
non-decreasing by pool-adjacent-violators weighted by the bins' counts (the ``explicit``
trainer's targets use this form).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.errors import InputError, ParameterError
from harness.plugins.calibrators.common import fit_data, not_fitted, state_numbers
from harness.plugins.calibrators.pav import pool_adjacent_violators


class HistogramCalibrator:
    """Accuracy per equal-mass bin. ``bins``: the number of quantile bins (>= 1);
    ``monotone``: pool the bin values into a non-decreasing map."""

    name = "histogram"

    def __init__(self, bins: int = 10, monotone: bool = False) -> None:
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
            raise ParameterError(f"calibrator 'histogram': bins = {bins!r}; expected an integer >= 1")
        if not isinstance(monotone, bool):
            raise ParameterError(f"calibrator 'histogram': monotone = {monotone!r}; expected true or false")
        self.bins = bins
        self.monotone = monotone
        self.edges: np.ndarray | None = None
        self.counts: np.ndarray | None = None
        self.accuracy: np.ndarray | None = None
        self.values: np.ndarray | None = None

    def fit(self, confidence: np.ndarray, correct: np.ndarray) -> None:
        conf, hit = fit_data(self.name, confidence, correct)
        y = hit.astype(np.float64)
        edges = np.unique(np.quantile(conf, np.linspace(0, 1, self.bins + 1)[1:-1]))
        index = np.searchsorted(edges, conf, side="right")
        counts = np.bincount(index, minlength=len(edges) + 1).astype(float)
        hits = np.bincount(index, weights=y, minlength=len(edges) + 1)
        overall = float(np.mean(y))
        accuracy = np.divide(hits, counts, out=np.full_like(hits, overall), where=counts > 0)
        self.edges, self.counts, self.accuracy = edges, counts, accuracy
        self.values = pool_adjacent_violators(accuracy, counts) if self.monotone else accuracy

    def __call__(self, confidence: np.ndarray) -> np.ndarray:
        if self.edges is None or self.values is None:
            raise not_fitted(self.name)
        index = np.searchsorted(self.edges, np.asarray(confidence, dtype=np.float64), side="right")
        return self.values[index]

    def fitted(self) -> dict[str, Any]:
        if self.edges is None or self.values is None or self.counts is None or self.accuracy is None:
            return {"bins": self.bins, "monotone": self.monotone}
        return {
            "bins": self.bins,
            "monotone": self.monotone,
            "edges": self.edges.tolist(),
            "counts": [int(c) for c in self.counts],
            "accuracy": self.accuracy.tolist(),
            "values": self.values.tolist(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Load what ``fitted()`` saved: the inner ``edges`` (increasing) and one value in [0, 1]
        per bin (``counts`` and ``accuracy`` too, which the report shows)."""
        edges = state_numbers(self.name, state, "edges")
        bins = len(edges) + 1
        values = state_numbers(self.name, state, "values", length=bins)
        if np.any(np.diff(edges) <= 0) or np.any((values < 0) | (values > 1)):
            raise InputError("calibrator 'histogram': the saved edges are not increasing or a value is "
                             "outside [0, 1]")
        self.edges, self.values = edges, values
        self.counts = state_numbers(self.name, state, "counts", length=bins)
        self.accuracy = state_numbers(self.name, state, "accuracy", length=bins)
