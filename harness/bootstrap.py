"""Bootstrap confidence intervals of metrics, vectorised across resamples.

Scoring draws one seeded matrix of resample indices (``draw``) and shares it between every
metric of a run, and between the two runs of a *paired* comparison (baseline vs trained on
the same examples), so a difference is resampled example by example.

A metric is a plain function ``fn(confidence, correct, **params) -> float``. It may also
carry a batched form (attach it with ``@vectorized(batch_fn)``)::

    batch_fn(confidence, correct, resamples: Resamples, **params) -> ndarray  # shape (R,)

which returns the metric of all R resamples at once (NaN where a resample leaves it
undefined). A metric without one still works: it is called once per resample. Intervals
are percentile intervals of the replicates (NaN replicates left out).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, TypeVar

import attrs
import numpy as np

from harness.errors import HarnessError, InputError, ParameterError

DEFAULT_RESAMPLES = 1000
DEFAULT_LEVEL = 0.95
MAX_ELEMENTS = 1 << 16  # indices per chunk of resamples: its arrays stay in the CPU cache

T = TypeVar("T")
Metric = Callable[..., float]


@attrs.define(eq=False)
class Resamples:
    """R bootstrap resamples of n examples: ``indices[r]`` are the examples of resample r.

    ``memo`` lets batched metrics share work derived from the same data across all metrics
    scored on these resamples; with ``shared=True``, work that depends on the data alone
    (e.g. sorting it) is also shared by every chunk of the same draw.
    """

    indices: np.ndarray
    _memo: dict[Hashable, tuple[tuple[Any, ...], Any]] = attrs.field(factory=dict, init=False)
    _shared: dict[Hashable, tuple[tuple[Any, ...], Any]] = attrs.field(factory=dict, kw_only=True)

    @property
    def size(self) -> int:
        return int(self.indices.shape[0])

    @property
    def n(self) -> int:
        return int(self.indices.shape[1])

    def memo(self, key: Hashable, compute: Callable[[], T], *anchors: Any, shared: bool = False) -> T:
        """``compute()`` once per ``key`` and identity of the ``anchors`` (the data arrays)."""
        store = self._shared if shared else self._memo
        full = (key, *map(id, anchors))
        hit = store.get(full)
        if hit is not None and all(a is b for a, b in zip(hit[0], anchors, strict=True)):
            return hit[1]
        value = compute()
        store[full] = (anchors, value)  # keeping the anchors alive keeps their ids unique
        return value


    def chunks(self, max_elements: int) -> list[Resamples]:
        """The resamples in consecutive groups of rows of at most ``max_elements`` indices."""
        rows = max(1, max_elements // max(self.n, 1))
        if rows >= self.size:
            return [self]
        return [Resamples(self.indices[i : i + rows], shared=self._shared) for i in range(0, self.size, rows)]


def draw(n: int, resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> Resamples:
    """Seeded uniform resampling with replacement: an (resamples, n) index matrix."""
    if resamples < 1:
        raise ParameterError(f"bootstrap resamples must be >= 1, got {resamples}")
    if n < 1:
        raise InputError("cannot bootstrap an empty set of examples")
    rng = np.random.default_rng(seed)
    dtype = np.int32 if n < 2**31 else np.int64
    return Resamples(rng.integers(0, n, size=(resamples, n), dtype=dtype))


def vectorized(batched: Callable[..., np.ndarray]) -> Callable[[Metric], Metric]:
    """Decorator: attach ``batched`` as the all-resamples-at-once form of a metric."""

    def attach(fn: Metric) -> Metric:
        fn.batched = batched  # type: ignore[attr-defined]
        return fn

    return attach


def _unwrap(metric: Metric) -> tuple[Metric, dict[str, Any]]:
    """The metric function and its bound parameters (``registry.create`` returns a partial)."""
    params: dict[str, Any] = {}
    while isinstance(metric, functools.partial):
        params = {**metric.keywords, **params}
        metric = metric.func
    return metric, params


def replicates(
    metric: Metric, confidence: np.ndarray, correct: np.ndarray, resamples: Resamples
) -> np.ndarray:
    """The metric on every resample, shape (R,); NaN where it is undefined."""
    if len(confidence) != resamples.n:
        raise InputError(f"resamples are of {resamples.n} examples, the data has {len(confidence)}")
    fn, params = _unwrap(metric)
    batched = getattr(fn, "batched", None)
    if batched is not None:
        values = np.asarray(batched(confidence, correct, resamples, **params), dtype=np.float64)
        if values.shape != (resamples.size,):
            raise ValueError(f"batched metric returned shape {values.shape}, expected ({resamples.size},)")
        return values
    out = np.full(resamples.size, np.nan)
    for r, idx in enumerate(resamples.indices):
        try:
            out[r] = float(fn(confidence[idx], correct[idx], **params))
        except (HarnessError, ValueError, ZeroDivisionError, FloatingPointError):
            continue  # undefined on this resample (e.g. one class only)
    return out


def replicate_all(
    metrics: Mapping[str, Metric],
    runs: Sequence[tuple[np.ndarray, np.ndarray]],
    resamples: Resamples,
    *,
    max_elements: int = MAX_ELEMENTS,
) -> dict[str, np.ndarray]:
    """Every metric on every run and resample: ``{name: array (len(runs), R)}``.

    Resamples are processed in chunks of rows to bound memory; within a chunk all metrics
    share the work cached in its ``memo`` (e.g. the sorted data).
    """
    out = {name: np.empty((len(runs), resamples.size)) for name in metrics}
    start = 0
    for chunk in resamples.chunks(max_elements):
        stop = start + chunk.size
        for name, metric in metrics.items():
            for i, (confidence, correct) in enumerate(runs):
                out[name][i, start:stop] = replicates(metric, confidence, correct, chunk)
        start = stop
    return out


def percentile_interval(values: np.ndarray, level: float = DEFAULT_LEVEL) -> list[float] | None:
    """The central ``level`` percentile interval of the finite replicates, or None if none."""
    if not 0.0 < level < 1.0:
        raise ParameterError(f"confidence level must be in (0, 1), got {level}")
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return [float(low), float(high)]


def bootstrap_ci(
    metric: Metric,
    confidence: np.ndarray,
    correct: np.ndarray,
    *,
    resamples: int | Resamples = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> list[float] | None:
    """Percentile bootstrap interval ``[low, high]`` of one metric."""
    draws = resamples if isinstance(resamples, Resamples) else draw(len(confidence), resamples, seed)
    return percentile_interval(replicates(metric, confidence, correct, draws), level)


def paired_bootstrap_ci(
    metric: Metric,
    confidence_a: np.ndarray,
    correct_a: np.ndarray,
    confidence_b: np.ndarray,
    correct_b: np.ndarray,
    *,
    resamples: int | Resamples = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> list[float] | None:
    """Percentile interval of ``metric(b) - metric(a)``, both runs resampled by the same examples."""
    if len(confidence_a) != len(confidence_b):
        raise InputError(
            f"a paired comparison needs the same examples: {len(confidence_a)} vs {len(confidence_b)}"
        )
    draws = resamples if isinstance(resamples, Resamples) else draw(len(confidence_a), resamples, seed)
    diff = replicates(metric, confidence_b, correct_b, draws) - replicates(
        metric, confidence_a, correct_a, draws
    )
    return percentile_interval(diff, level)
