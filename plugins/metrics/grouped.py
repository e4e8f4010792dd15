"""The shared form of the data behind the built-in metrics: tie groups with weights.

Every built-in metric is a function of the distinct confidence values (ascending) and,
per value, how many answers carry it (``size``) and how many of those were correct
(``hits``). The point estimate has one row of weights (the data itself); a bootstrap has
one row per resample, so all resamples are scored at once by array operations, and the
running sums are computed once and shared by every metric. Answers that share a
confidence are interchangeable: where a metric cuts the sorted answers at a position
inside a group of ties, each side gets its share of the group's hits (the average over
every order of the ties), which makes the metric independent of the order of the input.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

import attrs
import numpy as np

from harness.errors import InputError, InsufficientDataError
from harness.statistics.bootstrap import Resamples


def as_arrays(confidence: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Confidences (float64) and correctness (float64 0/1), checked: same length, at least one."""
    conf = np.asarray(confidence, dtype=np.float64)
    hit = np.asarray(correct)
    if conf.ndim != 1 or hit.ndim != 1 or conf.shape != hit.shape:
        raise InputError(f"confidence and correct must be 1-D of one length: {conf.shape} and {hit.shape}")
    if conf.size == 0:
        raise InsufficientDataError("no examples to score")
    if not np.all((conf >= 0.0) & (conf <= 1.0)):  # also false for NaN
        raise InputError("confidences must be numbers in [0, 1]")
    hit = hit.astype(np.float64)
    if not np.all((hit == 0.0) | (hit == 1.0)):
        raise InputError("correct must be booleans or 0/1")
    return conf, hit


@attrs.define(eq=False, slots=False)
class Grouped:
    """Weighted tie groups: ``values`` (G,) ascending; ``size`` and ``hits`` (R, G); ``n`` answers a row.

    ``counts`` (optional, from ``group``): the same weights as integers, (R, 2, G) misses and
    hits, from which the running sums are computed exactly and faster.
    """

    values: np.ndarray
    size: np.ndarray
    hits: np.ndarray
    n: int
    counts: np.ndarray | None = attrs.field(default=None, kw_only=True)  # (R, 2, G) misses, hits

    @cached_property
    def misses(self) -> np.ndarray:
        return self.size - self.hits

    @cached_property
    def _running(self) -> np.ndarray | None:
        # Running sums of the integer ``counts``: the same numbers as in float64 (all below
        # 2**53), but numpy's cumsum of int64 is several times faster than of float64.
        return None if self.counts is None else np.cumsum(self.counts, axis=2)

    @cached_property
    def upto(self) -> np.ndarray:
        """Answers in this group or below, per row (running sum of ``size``)."""
        if self._running is None:
            return np.cumsum(self.size, axis=1)
        return self.upto_int.astype(np.float64)

    @cached_property
    def upto_int(self) -> np.ndarray:
        if self._running is None:
            return self.upto.astype(np.intp)
        return np.add(self._running[:, 0], self._running[:, 1], dtype=np.intp)

    @cached_property
    def hits_upto(self) -> np.ndarray:
        if self._running is None:
            return np.cumsum(self.hits, axis=1)
        return self._running[:, 1].astype(np.float64)

    @cached_property
    def misses_upto(self) -> np.ndarray:
        return self.upto - self.hits_upto

    @cached_property
    def conf_upto(self) -> np.ndarray:
        return np.cumsum(self.size * self.values[None, :], axis=1)

    @cached_property
    def _flat_upto(self) -> np.ndarray:
        return (self.upto + self._offsets).ravel()

    @cached_property
    def _offsets(self) -> np.ndarray:
        return np.arange(self.size.shape[0])[:, None] * (self.n + 1.0)

    @cached_property
    def _located(self) -> dict[bytes, tuple[np.ndarray, np.ndarray]]:
        return {}

    def _locate(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each row and position k in [1, n]: the group holding answer k, and answers before it."""
        key = positions.tobytes()
        if key not in self._located:
            self._located[key] = self._search(positions)
        return self._located[key]

    def _search(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows, groups = self.size.shape
        flat = np.searchsorted(self._flat_upto, (positions[None, :] + self._offsets).ravel(), side="left")
        g = np.minimum(flat.reshape(rows, -1) - np.arange(rows)[:, None] * groups, groups - 1)
        r = np.arange(rows)[:, None]
        before = np.where(g > 0, self.upto[r, np.maximum(g - 1, 0)], 0.0)
        return g, before

    def _cut(self, running: np.ndarray, per_answer: Callable[[np.ndarray, np.ndarray], np.ndarray],
             positions: np.ndarray) -> np.ndarray:
        positions = np.asarray(positions, dtype=np.float64)
        inside = np.clip(positions, 1.0, None)
        g, before = self._locate(inside)
        r = np.arange(self.size.shape[0])[:, None]
        below = np.where(g > 0, running[r, np.maximum(g - 1, 0)], 0.0)
        out = below + (inside[None, :] - before) * per_answer(r, g)
        return np.where(positions[None, :] == 0, 0.0, out)

    def hits_in_first(self, positions: np.ndarray) -> np.ndarray:
        """Correct answers among the first k (ascending confidence), per row and k: (R, K)."""
        return self._cut(self.hits_upto, lambda r, g: self.hits[r, g] / self.size[r, g], positions)

    def conf_in_first(self, positions: np.ndarray) -> np.ndarray:
        """Sum of the first k confidences (ascending), per row and k: (R, K)."""
        return self._cut(self.conf_upto, lambda r, g: self.values[g], positions)


def _keys(confidence: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct confidences, and per answer the id of (correct?, its confidence's group)."""
    values, inverse = np.unique(confidence, return_inverse=True)
    return values, (inverse + values.size * correct.astype(np.int64)).astype(np.int64)


def group(
    confidence: np.ndarray,
    correct: np.ndarray,
    indices: np.ndarray | None = None,
    keys: tuple[np.ndarray, np.ndarray] | None = None,
) -> Grouped:
    """Tie groups of checked data; one row of weights, or one per row of ``indices`` (R, width).

    ``n`` of the result is the number of answers in each row: the data's length for the
    data itself, the width of ``indices`` for resamples (a group bootstrap's resamples need
    not be as long as the data).
    """
    values, key = keys if keys is not None else _keys(confidence, correct)
    groups = values.size
    if indices is None:
        key = key[None, :]
        n = int(confidence.size)
    else:
        n = int(indices.shape[1])
        key = key[indices]
        key += (np.arange(indices.shape[0], dtype=np.int64) * 2 * groups)[:, None]
    rows = key.shape[0]
    counts = np.bincount(key.ravel(), minlength=rows * 2 * groups).reshape(rows, 2, groups)
    hits = counts[:, 1, :].astype(np.float64)
    size = hits + counts[:, 0, :]
    return Grouped(values, size, hits, n, counts=counts)


def grouped(confidence: np.ndarray, correct: np.ndarray) -> Grouped:
    """Checked data as one row of weights (for the point estimate)."""
    return group(*as_arrays(confidence, correct))


def group_resamples(confidence: np.ndarray, correct: np.ndarray, resamples: Resamples) -> Grouped:
    """Every resample as one row of weights; built once per data set and set of resamples."""

    def compute() -> Grouped:
        checked = resamples.memo("builtin-metrics-keys", lambda: _checked_keys(confidence, correct),
                                 confidence, correct, shared=True)
        return group(*checked[0], resamples.indices, keys=checked[1])

    return resamples.memo("builtin-metrics-grouped", compute, confidence, correct)


def _checked_keys(confidence: np.ndarray, correct: np.ndarray) -> tuple[tuple, tuple]:
    checked = as_arrays(confidence, correct)
    return checked, _keys(*checked)
