"""The ``rl`` trainer's reward: a proper scoring rule of the stated confidence against the judge.

Pure Python (no torch), so that it is tested against hand values. A completion is read with
the ``verbalized`` extractor (``Answer: X`` / ``Confidence: 0.NN``); the judge's verdict ``y``
on its answer (1 correct, 0 not) scores its confidence ``c``:

- ``log``: ``y·log c + (1−y)·log(1−c)``, with ``c`` clipped to ``[clip, 1−clip]`` (the log score
  is unbounded at 0 and 1: ``clip`` bounds the reward of a confident mistake at ``log(clip)``);
- ``brier``: ``−(c−y)²`` (bounded; ``clip`` does not apply).

Both are proper: their expected value under the true probability ``p`` of being right is highest
at ``c = p``, so the policy gains most by stating its real chance. A completion without a readable
answer and confidence gets ``format_penalty``, which must lie below every score a readable one can
get (else breaking the format would pay). A completion the judge could not grade gets ``None``:
TRL leaves it out of its group's baseline and gives it no advantage.
"""

from __future__ import annotations

import math

import attrs

from harness.errors import ParameterError
from harness.plugins.trainers.common import check_choice
from harness.records import Prediction

RULES = ("log", "brier")


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@attrs.frozen(kw_only=True)
class Reward:
    """The scoring rule and its parameters; ``Reward.build`` checks them."""

    rule: str = "log"
    clip: float = 0.01
    format_penalty: float = -5.0

    @classmethod
    def build(cls, trainer: str, *, rule: str, clip: float, format_penalty: float) -> Reward:
        """A checked reward; a bad value is one ``ParameterError`` line naming the parameter."""
        check_choice(trainer, "reward", rule, RULES)
        if not _number(clip) or not 0 < clip < 0.5:
            raise ParameterError(f"trainer {trainer!r}: clip = {clip!r}; expected a number in (0, 0.5)")
        reward = cls(rule=rule, clip=float(clip), format_penalty=0.0)
        if not _number(format_penalty) or format_penalty >= reward.worst:
            raise ParameterError(
                f"trainer {trainer!r}: format_penalty = {format_penalty!r}; expected a number below the "
                f"lowest {rule} reward of a readable completion ({reward.worst:.3f}), else breaking the "
                f"format pays")
        return attrs.evolve(reward, format_penalty=float(format_penalty))

    @property
    def worst(self) -> float:
        """The lowest score a readable completion can get (a confident mistake)."""
        return self.score(1.0, False)

    def score(self, confidence: float, correct: bool) -> float:
        """The scoring rule's value of stating ``confidence`` when the answer is ``correct``."""
        y = 1.0 if correct else 0.0
        if self.rule == "brier":
            return -((confidence - y) ** 2)
        c = min(max(confidence, self.clip), 1.0 - self.clip)
        return math.log(c) if correct else math.log(1.0 - c)

    def __call__(self, prediction: Prediction, correct: bool | None) -> float | None:
        """The reward of one completion read as ``prediction`` and judged ``correct`` (``None``:
        the judge could not grade it, or its policy leaves the verdict out)."""
        if not readable(prediction):
            return self.format_penalty
        if correct is None:
            return None
        assert prediction.confidence is not None
        return self.score(prediction.confidence, correct)


def readable(prediction: Prediction) -> bool:
    """Whether the extractor read both an answer and a stated confidence (a confidence it had to
    fill in by its ``on_missing`` rule comes with an ``error`` and is not read)."""
    return bool(prediction.answer) and prediction.confidence is not None and prediction.error is None
