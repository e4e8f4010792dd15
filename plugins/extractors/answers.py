"""The greedy plain answer the multi-request extractors share with ``logprob``: the same
prompt, the same stop, the same first line — so a run that reports several of them generates
and judges one answer per example (``harness run`` shares it between extractors that prompt
alike), and each extractor only adds its own confidence."""

from __future__ import annotations

import re
import string

from harness.plugins.extractors import formats
from harness.records import Example, Generation, Prediction


class PlainAnswer:
    """Base of the extractors that read the plain prompt's greedy first line as the answer."""

    name = ""
    stop: tuple[str, ...] = ("\n",)

    def prompt(self, example: Example) -> str:
        return formats.plain_prompt(example.question)

    def format_completion(self, answer: str) -> str:
        """The completion this extractor's prompt expects for ``answer`` (for trainers)."""
        return formats.plain_completion(answer)

    @staticmethod
    def answer(generation: Generation) -> str:
        return generation.text.split("\n", 1)[0].strip()

    def missing(self, generation: Generation, reason: str) -> Prediction:
        """A prediction without a confidence, saying why."""
        return Prediction(example_id=generation.example_id, answer=self.answer(generation), confidence=None,
                          extractor=self.name, error=reason)

    def predicted(self, generation: Generation, confidence: float) -> Prediction:
        return Prediction(example_id=generation.example_id, answer=self.answer(generation),
                          confidence=min(1.0, max(0.0, confidence)), extractor=self.name)


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalized(answer: str) -> str:
    """An answer for matching: its first line, lower case, without punctuation, articles and
    repeated spaces (SQuAD's normalisation)."""
    text = answer.split("\n", 1)[0].lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())
