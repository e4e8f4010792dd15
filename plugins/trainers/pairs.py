"""Preference pairs for the ``explicit`` trainer: calibrated targets and poorly calibrated rivals.

From the judged training split (answers and log-probability confidences of the plain
format) to DPO pairs in the ``verbalized`` format: for each example the *chosen*
completion states the model's own answer with a calibrated target confidence, each
*rejected* one the same answer with a confidence at least ``min_distance`` away.

Targets:

- ``empirical`` (default): P(correct), estimated on the training split as a monotone
  function of the record's log-probability confidence, by accuracy within quantile bins
  (``binned``, made monotone by pooling adjacent violators) or by isotonic regression
  (``isotonic``). A record without a confidence gets the split's accuracy.
- ``binary``: 0.9 for a correct answer, 0.1 for a wrong one (the seed's example; not a
  calibrated target: a model that cannot tell right from wrong learns to guess).

Pure functions of their inputs (NumPy only); ``explicit`` writes the pairs to
``pairs.jsonl`` in the run folder so they can be inspected.
"""

from __future__ import annotations

import bisect
import zlib
from collections.abc import Sequence
from typing import Any, Protocol

import attrs
import numpy as np

from harness.errors import ParameterError
from harness.records import TrainingRecord

TARGETS = ("empirical", "binary")
CALIBRATORS = ("binned", "isotonic")
BINARY_HIGH = 0.9
BINARY_LOW = 0.1
GRID = np.round(np.arange(101) / 100, 2)  # confidences are stated with two decimals


class VerbalizedFormat(Protocol):
    """What pair generation needs of the ``verbalized`` extractor."""

    def prompt(self, example: Any) -> str: ...

    def format_completion(self, answer: str, confidence: float) -> str: ...


# --- calibrated targets -------------------------------------------------------------------------


def pool_adjacent_violators(values: Sequence[float], weights: Sequence[float]) -> np.ndarray:
    """The weighted least-squares non-decreasing fit to ``values`` (in their order)."""
    blocks: list[list[float]] = []  # [mean, weight, length]
    for value, weight in zip(values, weights, strict=True):
        blocks.append([float(value), float(weight), 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, n2 = blocks.pop()
            v1, w1, n1 = blocks.pop()
            total = w1 + w2
            mean = (v1 * w1 + v2 * w2) / total if total > 0 else (v1 + v2) / 2
            blocks.append([mean, total, n1 + n2])
    return np.array([mean for mean, _, length in blocks for _ in range(int(length))], dtype=float)


@attrs.frozen(kw_only=True)
class Calibrator:
    """A non-decreasing map from the log-probability confidence to P(correct).

    ``binned``: ``knots`` are the inner bin edges, ``values`` the accuracy of each bin;
    ``isotonic``: ``knots`` and ``values`` are the fitted points, interpolated linearly.
    """

    method: str
    knots: tuple[float, ...]
    values: tuple[float, ...]
    base_rate: float

    def __call__(self, confidence: float | None) -> float:
        if confidence is None:
            return self.base_rate
        if self.method == "binned" or not self.knots:
            return self.values[bisect.bisect_right(self.knots, confidence)]
        return float(np.interp(confidence, self.knots, self.values))

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def fit_calibrator(
    confidences: Sequence[float | None],
    correct: Sequence[bool],
    *,
    method: str = "binned",
    bins: int = 10,
) -> Calibrator:
    """Fit P(correct | confidence) on the training split; confidences that are ``None`` only
    count towards the base rate."""
    if method not in CALIBRATORS:
        raise ParameterError(f"calibrator = {method!r}; expected one of {', '.join(CALIBRATORS)}")
    if len(confidences) != len(correct) or not correct:
        raise ParameterError("fit_calibrator needs as many confidences as verdicts, at least one")
    base_rate = float(np.mean(np.asarray(correct, dtype=float)))
    known = [(float(c), float(k)) for c, k in zip(confidences, correct, strict=True) if c is not None]
    if not known:
        return Calibrator(method=method, knots=(), values=(base_rate,), base_rate=base_rate)
    x = np.array([c for c, _ in known])
    y = np.array([k for _, k in known])
    if method == "binned":
        edges = np.unique(np.quantile(x, np.linspace(0, 1, max(1, bins) + 1)[1:-1]))
        index = np.searchsorted(edges, x, side="right")
        counts = np.bincount(index, minlength=len(edges) + 1).astype(float)
        hits = np.bincount(index, weights=y, minlength=len(edges) + 1)
        accuracy = np.divide(hits, counts, out=np.full_like(hits, base_rate), where=counts > 0)
        fitted = pool_adjacent_violators(accuracy, counts)
        return Calibrator(
            method=method, knots=tuple(edges.tolist()), values=tuple(fitted.tolist()), base_rate=base_rate
        )
    order = np.unique(x)
    counts = np.array([np.sum(x == value) for value in order], dtype=float)
    means = np.array([np.mean(y[x == value]) for value in order])
    fitted = pool_adjacent_violators(means, counts)
    return Calibrator(
        method=method, knots=tuple(order.tolist()), values=tuple(fitted.tolist()), base_rate=base_rate
    )


def calibrated_targets(
    records: Sequence[TrainingRecord],
    *,
    target: str = "empirical",
    calibrator: str = "binned",
    bins: int = 10,
) -> tuple[list[float], Calibrator | None]:
    """The target confidence of each record, rounded to two decimals (as stated), and the
    fitted calibrator (``None`` for ``binary``)."""
    if target not in TARGETS:
        raise ParameterError(f"target = {target!r}; expected one of {', '.join(TARGETS)}")
    if target == "binary":
        return [BINARY_HIGH if r.correct else BINARY_LOW for r in records], None
    fitted = fit_calibrator(
        [r.confidence for r in records], [r.correct for r in records], method=calibrator, bins=bins
    )
    return [round(min(1.0, max(0.0, fitted(r.confidence))), 2) for r in records], fitted


# --- rejected confidences and pairs --------------------------------------------------------------


def check_min_distance(min_distance: float) -> None:
    number = isinstance(min_distance, (int, float)) and not isinstance(min_distance, bool)
    if not number or not 0 < min_distance <= 0.5:
        raise ParameterError(
            f"min_distance = {min_distance!r}; expected a number in (0, 0.5] (so every target has rivals)"
        )


def rejected_confidences(target: float, n: int, min_distance: float, rng: np.random.Generator) -> list[float]:
    """``n`` distinct two-decimal confidences at least ``min_distance`` from ``target``, drawn
    uniformly from those in [0, 1] (all of them where fewer than ``n`` exist; never none, since
    ``min_distance`` <= 0.5)."""
    check_min_distance(min_distance)
    far = GRID[np.abs(GRID - target) >= min_distance - 1e-9]
    picked = rng.choice(far, size=min(n, len(far)), replace=False)
    return sorted(float(v) for v in picked)


def example_rng(seed: int, example_id: str) -> np.random.Generator:
    """A generator for one example: the same pairs whatever the order of the records."""
    return np.random.default_rng([seed, zlib.crc32(example_id.encode("utf-8"))])


@attrs.frozen(kw_only=True)
class Pair:
    """One DPO preference pair and where it came from."""

    example_id: str
    prompt: str
    chosen: str
    rejected: str
    answer: str
    correct: bool
    logprob_confidence: float | None
    target: float
    rejected_confidence: float

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)

    def as_dpo(self, chat: bool = False) -> dict[str, Any]:
        """The pair as TRL's DPO dataset wants it: plain text, or one user and one assistant turn."""
        if not chat:
            return {"prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected}
        return {
            "prompt": [{"role": "user", "content": self.prompt}],
            "chosen": [{"role": "assistant", "content": self.chosen}],
            "rejected": [{"role": "assistant", "content": self.rejected}],
        }


def make_pairs(
    records: Sequence[TrainingRecord],
    targets: Sequence[float],
    fmt: VerbalizedFormat,
    *,
    n_rejected: int = 1,
    min_distance: float = 0.3,
    seed: int = 0,
) -> list[Pair]:
    """``n_rejected`` pairs per record with a non-blank answer, in the verbalized format of ``fmt``."""
    if isinstance(n_rejected, bool) or not isinstance(n_rejected, int) or n_rejected < 1:
        raise ParameterError(f"n_rejected = {n_rejected!r}; expected a positive integer")
    check_min_distance(min_distance)
    pairs = []
    for record, target in zip(records, targets, strict=True):
        answer = record.answer.strip()
        if not answer:
            continue
        prompt = fmt.prompt(record.example)
        chosen = fmt.format_completion(answer, target)
        rng = example_rng(seed, record.example.id)
        for rival in rejected_confidences(target, n_rejected, min_distance, rng):
            pairs.append(
                Pair(
                    example_id=record.example.id,
                    prompt=prompt,
                    chosen=chosen,
                    rejected=fmt.format_completion(answer, rival),
                    answer=answer,
                    correct=record.correct,
                    logprob_confidence=record.confidence,
                    target=target,
                    rejected_confidence=rival,
                )
            )
    return pairs
