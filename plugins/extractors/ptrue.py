"""The ``ptrue`` extractor (Kadavath et al. 2022): the model answers the plain prompt greedily,
then is shown its own answer — "Is the proposed answer true? (A) True (B) False" — and the
confidence is the probability it gives the ``A`` option.

``normalize = true`` (default) takes ``P(A) / (P(A) + P(B))``, the softmax over the two option
tokens; ``false`` takes ``P(A)`` as it is (the rest of the vocabulary keeps its share). Both
probabilities come from one ``score`` request per example (one forward pass per batch on the
``hf`` backend), so no text is generated for the query.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from harness.errors import ParameterError
from harness.plugins.extractors import formats
from harness.plugins.extractors.answers import PlainAnswer
from harness.records import Example, Generation, Prediction, Scores
from harness.strategies import ScoreRequest

QUERY = "ptrue"


class PTrueExtractor(PlainAnswer):
    """The plain answer; confidence = P(True) of the self-evaluation query about it."""

    name = "ptrue"
    requires = frozenset({"scores"})

    def __init__(self, normalize: bool = True) -> None:
        if not isinstance(normalize, bool):
            raise ParameterError(f"extractor 'ptrue': normalize must be true or false, not {normalize!r}")
        self.normalize = normalize

    def query(self, example: Example, answer: str) -> str:
        """The P(True) query about ``answer`` (trainers share it)."""
        return formats.ptrue_prompt(example.question, answer)

    def follow_ups(self, example: Example, generation: Generation) -> dict[str, ScoreRequest]:
        answer = self.answer(generation)
        if not answer:
            return {}
        return {QUERY: ScoreRequest(example_id=example.id, prompt=self.query(example, answer),
                                    continuations=formats.PTRUE_OPTIONS)}

    def extract(self, generation: Generation, responses: Mapping[str, Generation | Scores]) -> Prediction:
        if not self.answer(generation):
            return self.missing(generation, "empty answer")
        scores = responses.get(QUERY)
        if not isinstance(scores, Scores):
            return self.missing(generation, "the P(True) query was not scored")
        if scores.error:
            return self.missing(generation, f"the P(True) query failed: {scores.error}")
        true, false = (scores.logprobs + [None, None])[:2]
        if true is None or false is None or not math.isfinite(true) or not math.isfinite(false):
            return self.missing(generation, "the P(True) query has no probability for an option")
        if not self.normalize:
            return self.predicted(generation, math.exp(min(0.0, true)))
        return self.predicted(generation, 1.0 / (1.0 + math.exp(false - true)))
