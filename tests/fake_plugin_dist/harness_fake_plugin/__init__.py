"""A fake third-party plugin: one metric and two extractors (one that asks the backend a
follow-up question), registered through the ``harness`` entry points exactly as any plugin
package outside the repository would."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

import harness
from harness import Example, Generation, Prediction, ScoreRequest, Scores


def fake_metric(confidence: np.ndarray, correct: np.ndarray) -> float:
    """Signed overconfidence: mean confidence minus accuracy."""
    return float(np.mean(confidence) - np.mean(correct))


class FakeExtractor:
    """Asks ``{prefix}{question}`` and takes the first line as the answer, with a fixed confidence."""

    name = "fake_extractor"
    stop = ("\n",)

    def __init__(self, prefix: str = "Q: ", confidence: float = 0.5) -> None:
        self.prefix = prefix
        self.confidence = confidence

    def prompt(self, example: Example) -> str:
        return f"{self.prefix}{example.question}\nA:"

    def extract(self, generation: Generation) -> Prediction:
        answer = generation.text.strip().split("\n", 1)[0]
        return Prediction(
            example_id=generation.example_id,
            answer=answer,
            confidence=self.confidence,
            extractor=self.name,
        )


class SureExtractor(FakeExtractor):
    """Asks as ``fake_extractor`` does, then "Sure?" about the answer: the confidence is the
    probability of " yes" against " no" (a multi-request extractor)."""

    name = "fake_sure"
    requires = frozenset({"scores"})  # the backend must score continuations; checked before any work

    def follow_ups(self, example: Example, generation: Generation) -> dict[str, ScoreRequest]:
        answer = generation.text.strip().split("\n", 1)[0]
        prompt = f"{self.prompt(example)} {answer}\nSure?"
        return {"sure": ScoreRequest(example_id=example.id, prompt=prompt, continuations=(" yes", " no"))}

    def extract(self, generation: Generation, responses: Mapping[str, Generation | Scores]) -> Prediction:
        answer = generation.text.strip().split("\n", 1)[0]
        scores = responses.get("sure")
        if not isinstance(scores, Scores) or scores.error or None in scores.logprobs:
            return Prediction(example_id=generation.example_id, answer=answer, confidence=None,
                              extractor=self.name, error="the 'Sure?' question was not scored")
        yes, no = scores.logprobs
        return Prediction(example_id=generation.example_id, answer=answer,
                          confidence=1.0 / (1.0 + math.exp(no - yes)), extractor=self.name)


@harness.hookimpl
def register_metrics(register):  # type: ignore[no-untyped-def]
    register("fake_metric", fake_metric)


@harness.hookimpl
def register_extractors(register):  # type: ignore[no-untyped-def]
    register("fake_extractor", FakeExtractor)
    register("fake_sure", SureExtractor)
