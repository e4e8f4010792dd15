"""Preference pairs for the ``explicit`` trainer: calibrated targets and poorly calibrated rivals.

From the judged training split (answers and log-probability confidences of the plain
format) to DPO pairs in the ``verbalized`` format: for each example the *chosen*
completion states the model's own answer with a calibrated target confidence, each
*rejected* one the same answer with a confidence at least ``min_distance`` away.

Targets:

- ``empirical`` (default): P(correct), estimated on the training split as a function of the
  record's log-probability confidence by a registered calibrator (``harness.statistics.calibration``):
  ``histogram`` (default; the accuracy within quantile bins, made monotone by pooling
  adjacent violators: the trainer passes its ``bins`` and ``monotone = true`` to a calibrator
  that has those parameters), ``isotonic``, ``platt``, ``temperature`` or any other. The
  earlier name ``binned`` is accepted for ``histogram`` (the same values). A record without
  a confidence gets the split's accuracy; where the calibrator cannot fit (one class only,
  fewer than two confidences) every record gets the accuracy of those with a confidence.
- ``binary``: 0.9 for a correct answer, 0.1 for a wrong one (the seed's example; not a
  calibrated target: a model that cannot tell right from wrong learns to guess).

Pure functions of their inputs (NumPy, and the calibrators of the registry); ``explicit``
writes the pairs to ``pairs.jsonl`` and the fitted map to ``calibrator.json`` in the run
folder so they can be inspected.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any, Protocol

import attrs
import numpy as np

from harness.errors import InsufficientDataError, ParameterError
from harness.machinery.config import Config, Layer
from harness.records import TrainingRecord
from harness.statistics.calibration import Fitted, fit_calibrator

TARGETS = ("empirical", "binary")
#: the trainer's earlier name of the monotone ``histogram`` calibrator, still accepted
ALIASES = {"binned": "histogram"}
BINARY_HIGH = 0.9
BINARY_LOW = 0.1
GRID = np.round(np.arange(101) / 100, 2)  # confidences are stated with two decimals


class VerbalizedFormat(Protocol):
    """What pair generation needs of the ``verbalized`` extractor."""

    def prompt(self, example: Any) -> str: ...

    def format_completion(self, answer: str, confidence: float) -> str: ...


# --- calibrated targets -------------------------------------------------------------------------


def calibrator_name(name: str) -> str:
    """The registered calibrator ``name`` stands for (``binned``: ``histogram``), or a
    ``ParameterError`` listing the known ones."""
    from harness.machinery import registry

    known = registry.names("calibrator")
    resolved = ALIASES.get(name, name) if isinstance(name, str) else name
    if resolved not in known:
        raise ParameterError(
            f"calibrator = {name!r}; expected a registered calibrator: {', '.join(known)} "
            f"(or {', '.join(repr(a) for a in ALIASES)}, the monotone histogram)"
        )
    return resolved


def target_config(calibrator: str, bins: int) -> Config:
    """The calibrator's shipped defaults, with the trainer's ``bins`` and ``monotone = true``
    where the calibrator has those parameters (targets are non-decreasing in the confidence)."""
    from harness.machinery import registry

    accepted = registry.get("calibrator", calibrator).parameters() or {}
    own = {key: value for key, value in (("bins", bins), ("monotone", True)) if key in accepted}
    layer = Layer("trainer 'explicit'", {"calibrator": {calibrator: own}})
    return Config.load().with_layer(layer)


@attrs.frozen(kw_only=True)
class TargetMap:
    """P(correct | confidence) on the training split: a registered calibrator fitted on the
    records that have a confidence; a record without one gets the split's accuracy.

    Where the calibrator cannot fit those records (one class only, fewer than two), every
    confidence maps to their accuracy (``fallback``) and ``note`` says why.
    """

    calibrator: str
    fitted: Fitted | None
    base_rate: float
    fallback: float | None = None
    note: str | None = None

    def __call__(self, confidence: float | None) -> float:
        if confidence is None:
            return self.base_rate
        return float(self.apply(np.array([confidence], dtype=float))[0])

    def apply(self, confidences: np.ndarray) -> np.ndarray:
        if self.fitted is None:
            return np.full(np.shape(confidences), self.base_rate if self.fallback is None else self.fallback)
        return self.fitted.apply(confidences)

    def to_dict(self) -> dict[str, Any]:
        fitted = self.fitted.to_dict() if self.fitted is not None else {"calibrator": self.calibrator}
        return {**fitted, "base_rate": self.base_rate, "fallback": self.fallback, "note": self.note}


def fit_target_map(
    confidences: Sequence[float | None],
    correct: Sequence[bool],
    *,
    calibrator: str = "histogram",
    bins: int = 10,
) -> TargetMap:
    """Fit P(correct | confidence) on the training split; confidences that are ``None`` only
    count towards the base rate."""
    name = calibrator_name(calibrator)
    if len(confidences) != len(correct) or not correct:
        raise ParameterError("fit_target_map needs as many confidences as verdicts, at least one")
    base_rate = float(np.mean(np.asarray(correct, dtype=float)))
    known = [(float(c), bool(k)) for c, k in zip(confidences, correct, strict=True) if c is not None]
    if not known:
        return TargetMap(calibrator=name, fitted=None, base_rate=base_rate, note="no record has a confidence")
    x = np.array([c for c, _ in known])
    y = np.array([k for _, k in known])
    try:
        fitted = fit_calibrator(name, target_config(name, bins), x, y)
    except InsufficientDataError as exc:
        return TargetMap(
            calibrator=name, fitted=None, base_rate=base_rate, fallback=float(np.mean(y)), note=str(exc)
        )
    return TargetMap(calibrator=name, fitted=fitted, base_rate=base_rate)


def calibrated_targets(
    records: Sequence[TrainingRecord],
    *,
    target: str = "empirical",
    calibrator: str = "histogram",
    bins: int = 10,
) -> tuple[list[float], TargetMap | None]:
    """The target confidence of each record, rounded to two decimals (as stated), and the
    fitted map (``None`` for ``binary``)."""
    if target not in TARGETS:
        raise ParameterError(f"target = {target!r}; expected one of {', '.join(TARGETS)}")
    if target == "binary":
        return [BINARY_HIGH if r.correct else BINARY_LOW for r in records], None
    fitted = fit_target_map(
        [r.confidence for r in records], [r.correct for r in records], calibrator=calibrator, bins=bins
    )
    known = [i for i, r in enumerate(records) if r.confidence is not None]
    values = [fitted.base_rate] * len(records)
    if known:
        mapped = fitted.apply(np.array([records[i].confidence for i in known], dtype=float))
        for i, value in zip(known, mapped.tolist(), strict=True):
            values[i] = value
    return [round(min(1.0, max(0.0, v)), 2) for v in values], fitted


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
