"""Bootstrap confidence intervals of metrics, vectorised across resamples.

Scoring draws one seeded set of resamples (``draw``) and shares it between every metric of
a run, and between the two runs of a *paired* comparison (baseline vs trained on the same
examples in the same order), so a difference is resampled example by example, or group by
group.

A metric is a plain function ``fn(confidence, correct, **params) -> float``. It may also
carry a batched form (attach it with ``@vectorized(batch_fn)``)::

    batch_fn(confidence, correct, resamples: Resamples, **params) -> ndarray  # shape (R,)

which returns the metric of all R resamples at once (NaN where a resample leaves it
undefined); ``resamples.indices`` is then an (R, width) matrix: every resample it gets has
``width`` examples (``resamples.width``, not necessarily the data's length ``resamples.n``).
A metric without one still works: it is called once per resample. Intervals are percentile
intervals of the replicates (NaN replicates left out).

Two units of resampling, and their random streams (a plain loop reproduces either exactly):

- **examples** (``groups=None``): ``rng = np.random.default_rng(seed)``;
  ``indices = rng.integers(0, n, size=(resamples, n), dtype=np.int32)`` (``np.int64`` when
  n >= 2**31); resample r is the examples ``indices[r]``.
- **groups** (a *cluster* bootstrap, for examples that are not independent, e.g. several
  questions about one entity): ``groups[i]`` is the key of example i (compared with ``==``;
  ``None``: a group of its own). The G distinct groups are numbered in order of first
  appearance, and each group's examples are kept in ascending order.
  ``rng = np.random.default_rng(seed)``;
  ``picks = rng.integers(0, G, size=(resamples, G), dtype=np.int32)`` (``np.int64`` when
  G >= 2**31); resample r is the concatenation, for j = 0..G-1, of the examples of group
  ``picks[r, j]``. When every group is a singleton (all keys distinct, or all None), this
  is the example stream exactly: the same seed gives the same resamples.

With groups of unequal sizes, the resamples have unequal sizes too: they are kept in blocks
of one width (``Resamples.blocks``, widths ascending, resample order within a block), each
scored by the batched metric as one matrix, and the values put back in resample order.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import attrs
import numpy as np

from harness.errors import HarnessError, InputError, InsufficientDataError, ParameterError

DEFAULT_RESAMPLES = 1000
DEFAULT_LEVEL = 0.95
MAX_ELEMENTS = 1 << 17  # indices per chunk of resamples: its arrays stay in the CPU cache (L3)

T = TypeVar("T")
Metric = Callable[..., float]
_UNDEFINED = (HarnessError, ValueError, ZeroDivisionError, FloatingPointError)


@attrs.define(eq=False)
class Resamples:
    """R bootstrap resamples of a data set of ``n`` examples.

    When every resample has the same number of examples (``width``: always for an example
    bootstrap, and for a group bootstrap of groups of one size), ``indices`` is an
    (R, width) matrix: ``indices[r]`` are the examples of resample r. Otherwise the
    resamples are held in ``blocks()`` of one width each, ``indices`` is not defined, and
    ``width`` is None. ``rows`` are the positions of these resamples in the draw they were
    taken from (None: 0..R-1). ``groups`` is the number of groups resampled (None when
    examples were).

    ``memo`` lets batched metrics share work derived from the same data across all metrics
    scored on these resamples; with ``shared=True``, work that depends on the data alone
    (e.g. sorting it) is also shared by every chunk and block of the same draw.
    """

    _indices: np.ndarray | None = attrs.field(alias="indices")
    n: int = attrs.field(default=-1, kw_only=True)
    groups: int | None = attrs.field(default=None, kw_only=True)
    rows: np.ndarray | None = attrs.field(default=None, kw_only=True)
    _parts: tuple[Resamples, ...] = attrs.field(default=(), kw_only=True, alias="parts")
    _memo: dict[Hashable, tuple[tuple[Any, ...], Any]] = attrs.field(factory=dict, init=False)
    _shared: dict[Hashable, tuple[tuple[Any, ...], Any]] = attrs.field(
        factory=dict, kw_only=True, alias="shared"
    )

    def __attrs_post_init__(self) -> None:
        if self._indices is None:
            if not self._parts or self.n < 0:
                raise ValueError("resamples without an index matrix need their blocks (parts) and n")
        elif self._indices.ndim != 2:
            raise ValueError(f"resample indices must be a matrix, got shape {self._indices.shape}")
        elif self.n < 0:
            self.n = int(self._indices.shape[1])

    @property
    def indices(self) -> np.ndarray:
        """The (R, width) index matrix; only when every resample has the same size."""
        if self._indices is None:
            raise ValueError("these resamples are of several sizes: score them block by block (blocks())")
        return self._indices

    @property
    def size(self) -> int:
        """R, the number of resamples."""
        if self._indices is None:
            return sum(part.size for part in self._parts)
        return int(self._indices.shape[0])

    @property
    def width(self) -> int | None:
        """Examples per resample, or None when the resamples are of several sizes."""
        return None if self._indices is None else int(self._indices.shape[1])

    @property
    def unit(self) -> str:
        """What was resampled: "group" or "example"."""
        return "example" if self.groups is None else "group"

    def blocks(self) -> tuple[Resamples, ...]:
        """The resamples as blocks of one width each (just this one when it has one width)."""
        return (self,) if self._indices is not None else self._parts

    def each(self) -> Iterator[np.ndarray]:
        """The examples of every resample, in resample order (what a plain loop scores)."""
        if self._indices is not None:
            yield from self._indices
            return
        where = np.empty((self.size, 2), dtype=np.int64)  # resample -> (block, row in block)
        for b, part in enumerate(self._parts):
            where[part.rows, 0] = b
            where[part.rows, 1] = np.arange(part.size)
        for b, i in where.tolist():
            yield self._parts[b].indices[i]

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
        """Blocks of one width cut into consecutive rows of at most ``max_elements`` indices each.

        Each chunk's ``rows`` give its resamples' positions in this draw (None for this draw
        itself, when it fits in one chunk).
        """
        if self._indices is not None:
            rows = max(1, max_elements // max(self.width or 1, 1))
            if rows >= self.size:
                return [self]
        out: list[Resamples] = []
        for block in self.blocks():
            where = block.rows if block.rows is not None else np.arange(block.size)
            step = max(1, max_elements // max(block.width or 1, 1))
            for i in range(0, block.size, step):
                out.append(self._block(block.indices[i : i + step], where[i : i + step]))
        return out

    def _block(self, indices: np.ndarray, rows: np.ndarray) -> Resamples:
        return Resamples(indices, n=self.n, groups=self.groups, rows=rows, shared=self._shared)


def draw(
    n: int,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    groups: Sequence[Hashable | None] | None = None,
) -> Resamples:
    """Seeded resampling with replacement of n examples, or of their groups.

    Without ``groups``: an (resamples, n) index matrix of examples. With ``groups`` (one
    key per example, None: its own group): each resample draws G of the G groups with
    replacement and takes every example of each; see the module docstring for the exact
    random stream.
    """
    if resamples < 1:
        raise ParameterError(f"bootstrap resamples must be >= 1, got {resamples}")
    if n < 1:
        raise InputError("cannot bootstrap an empty set of examples")
    dtype = np.int32 if n < 2**31 else np.int64
    rng = np.random.default_rng(seed)
    if groups is None:
        return Resamples(rng.integers(0, n, size=(resamples, n), dtype=dtype))
    ids, count = group_ids(groups, n)
    picks = rng.integers(0, count, size=(resamples, count), dtype=np.int32 if count < 2**31 else np.int64)
    order = np.argsort(ids, kind="stable").astype(dtype)  # examples by group, in order within each
    sizes = np.bincount(ids, minlength=count)
    if np.all(sizes == sizes[0]):  # one width: a single matrix
        return Resamples(np.take(order.reshape(count, -1), picks, axis=0).reshape(resamples, -1), n=n,
                         groups=count)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    lengths = sizes[picks].sum(axis=1)
    shared: dict[Hashable, tuple[tuple[Any, ...], Any]] = {}
    parts = []
    for width in np.unique(lengths):
        rows = np.flatnonzero(lengths == width)
        indices = _concatenated(picks[rows], sizes, starts, order, int(width))
        parts.append(Resamples(indices, n=n, groups=count, rows=rows, shared=shared))
    if len(parts) == 1:
        return Resamples(parts[0].indices, n=n, groups=count, shared=shared)
    return Resamples(None, n=n, groups=count, parts=tuple(parts), shared=shared)


def check_groups(groups: Sequence[Hashable | None] | None, n: int) -> None:
    """Groups, when given, are one key per example."""
    if groups is not None and len(groups) != n:
        raise InputError(f"groups must give one key per example: {len(groups)} keys for {n} examples")


def group_ids(groups: Sequence[Hashable | None], n: int) -> tuple[np.ndarray, int]:
    """Each example's group number (0.., in order of first appearance; None: a new group) and G."""
    check_groups(groups, n)
    ids = np.empty(n, dtype=np.int64)
    seen: dict[Hashable, int] = {}
    count = 0
    try:
        for i, key in enumerate(groups):
            if key is None:
                ids[i] = count
                count += 1
                continue
            number = seen.get(key)
            if number is None:
                number = seen[key] = count
                count += 1
            ids[i] = number
    except TypeError as exc:  # an unhashable key
        raise InputError(f"group keys must be hashable: {exc}") from None
    return ids, count


def _concatenated(
    picks: np.ndarray, sizes: np.ndarray, starts: np.ndarray, order: np.ndarray, width: int
) -> np.ndarray:
    """Rows of ``width`` examples: for each row, the examples of its picked groups in turn."""
    lens = sizes[picks].ravel()
    offsets = np.cumsum(lens) - lens  # where each picked group begins in the flat rows
    # position t of the flat rows, in picked group k: order[starts[group k] + t - offsets[k]]
    flat = np.arange(lens.sum(), dtype=np.int64) + np.repeat(starts[picks].ravel() - offsets, lens)
    return order[flat].reshape(picks.shape[0], width)


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
    """The metric on every resample, shape (R,); NaN where it is undefined.

    Resamples of several sizes are scored block by block (one batched call per width) and
    the values put back in resample order; a resample too small for the metric (e.g.
    fewer than HLE's ``beta`` examples) gets NaN.
    """
    if len(confidence) != resamples.n:
        raise InputError(f"resamples are of {resamples.n} examples, the data has {len(confidence)}")
    fn, params = _unwrap(metric)
    if resamples.width is None:
        out = np.empty(resamples.size)
        for block in resamples.blocks():
            try:
                out[block.rows] = replicates(metric, confidence, correct, block)
            except InsufficientDataError:
                out[block.rows] = np.nan  # every resample of this width is too small for it
        return out
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
        except _UNDEFINED:
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

    Resamples are processed in chunks of rows (of one width) to bound memory; within a
    chunk all metrics share the work cached in its ``memo`` (e.g. the sorted data).
    """
    out = {name: np.empty((len(runs), resamples.size)) for name in metrics}
    chunks = resamples.chunks(max_elements)[::-1]
    while chunks:
        # Each chunk (and its memo) is freed once scored, so the next reuses its memory: kept
        # to the end, the memos grow to hundreds of MB of fresh pages, slower than the arithmetic.
        chunk = chunks.pop()
        rows = slice(None) if chunk.rows is None else chunk.rows
        for name, metric in metrics.items():
            for i, (confidence, correct) in enumerate(runs):
                try:
                    out[name][i, rows] = replicates(metric, confidence, correct, chunk)
                except InsufficientDataError:
                    if resamples.width is not None:
                        raise  # resamples as large as the data: the metric is undefined on it
                    out[name][i, rows] = np.nan  # these resamples are smaller than the data
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


def _draws(
    resamples: int | Resamples, n: int, seed: int, groups: Sequence[Hashable | None] | None
) -> Resamples:
    if isinstance(resamples, Resamples):
        if groups is not None:
            raise ParameterError("groups go to draw(): these resamples are already drawn")
        return resamples
    return draw(n, resamples, seed, groups)


def bootstrap_ci(
    metric: Metric,
    confidence: np.ndarray,
    correct: np.ndarray,
    *,
    resamples: int | Resamples = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
    groups: Sequence[Hashable | None] | None = None,
) -> list[float] | None:
    """Percentile bootstrap interval ``[low, high]`` of one metric (resampling ``groups`` if given)."""
    draws = _draws(resamples, len(confidence), seed, groups)
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
    groups: Sequence[Hashable | None] | None = None,
) -> list[float] | None:
    """Percentile interval of ``metric(b) - metric(a)``, both runs resampled by the same examples.

    With ``groups`` (one key per example, shared by both runs: the same examples in the
    same order), both runs are resampled by the same groups.
    """
    if len(confidence_a) != len(confidence_b):
        raise InputError(
            f"a paired comparison needs the same examples: {len(confidence_a)} vs {len(confidence_b)}"
        )
    draws = _draws(resamples, len(confidence_a), seed, groups)
    diff = replicates(metric, confidence_b, correct_b, draws) - replicates(
        metric, confidence_a, correct_a, draws
    )
    return percentile_interval(diff, level)
