"""The ``entropy`` extractor: the plain greedy answer, with a confidence from the entropy of the
model's next-token distributions over the answer's tokens (white-box and free: the backend
computes them while generating).

``measure``: ``mean`` (default) maps the mean entropy ``H`` (nats) of the answer tokens to
``exp(-H)`` in (0, 1] — 1 when every token was certain, the inverse of the distribution's
perplexity; ``max`` uses the largest entropy instead (the least certain token). The answer's
tokens are those ``logprob`` scores (``answer_token_indices``).
"""

from __future__ import annotations

import math

from harness.errors import ParameterError
from harness.plugins.extractors.answers import PlainAnswer
from harness.plugins.extractors.logprob import answer_token_indices
from harness.records import Generation, Prediction

MEASURES = {"mean": lambda values: sum(values) / len(values), "max": max}


class EntropyExtractor(PlainAnswer):
    """The plain answer; confidence = exp(-entropy) of its tokens' distributions."""

    name = "entropy"
    requires = frozenset({"entropies"})

    def __init__(self, measure: str = "mean") -> None:
        if measure not in MEASURES:
            raise ParameterError(f"extractor 'entropy': measure must be one of {', '.join(MEASURES)}, "
                                 f"not {measure!r}")
        self.measure = measure

    def extract(self, generation: Generation) -> Prediction:
        if generation.error:
            return self.missing(generation, f"generation failed: {generation.error}")
        if not self.answer(generation):
            return self.missing(generation, "empty answer")
        if len(generation.entropies) != len(generation.tokens) or not generation.entropies:
            return self.missing(generation, "the generation has no token entropies")
        picked = answer_token_indices(generation.tokens)
        values = [generation.entropies[i] for i in picked]
        if not values or any(v is None or not math.isfinite(v) or v < -1e-6 for v in values):
            return self.missing(generation, "an answer token has no valid entropy")
        return self.predicted(generation, math.exp(-max(0.0, MEASURES[self.measure](values))))
