"""A fake third-party plugin: one metric and one extractor, registered through the
``harness`` entry points exactly as any plugin package outside the repository would."""

from __future__ import annotations

import numpy as np

import harness
from harness import Example, Generation, Prediction


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


@harness.hookimpl
def register_metrics(register):  # type: ignore[no-untyped-def]
    register("fake_metric", fake_metric)


@harness.hookimpl
def register_extractors(register):  # type: ignore[no-untyped-def]
    register("fake_extractor", FakeExtractor)
