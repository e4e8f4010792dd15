"""The ``logprob`` extractor (implicit confidence): the answer is the first line of the
generated text, its confidence an aggregate of the probabilities of the tokens that spell
that answer.

Which tokens count: those that overlap the stripped first line — so a leading space-only
token, the newline, trailing space tokens and an end-of-sequence token never do. The
aggregations (all in [0, 1]):

- ``mean_prob`` (default, the seed's): the mean of the token probabilities;
- ``geo_mean``: exp of the mean log-probability (length-normalised sequence probability);
- ``product``: the probability of the whole answer (exp of the summed log-probabilities);
- ``min``: the least likely token's probability;
- ``first``: the first answer token's probability.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

from harness.errors import ParameterError
from harness.plugins.extractors import formats
from harness.records import Example, Generation, Prediction


def _mean_prob(lps: Sequence[float]) -> float:
    return sum(math.exp(x) for x in lps) / len(lps)


AGGREGATIONS: dict[str, Callable[[Sequence[float]], float]] = {
    "mean_prob": _mean_prob,
    "geo_mean": lambda lps: math.exp(sum(lps) / len(lps)),
    "product": lambda lps: math.exp(sum(lps)),
    "min": lambda lps: math.exp(min(lps)),
    "first": lambda lps: math.exp(lps[0]),
}

# special tokens as tokenizers spell them: </s>, <eos>, <|endoftext|>, <|im_end|>, <end_of_turn>
_SPECIAL = re.compile(r"^<\|?[\w./-]+\|?>$")


class LogprobExtractor:
    """Plain ``Question: ... / Answer:`` prompt; confidence from the answer tokens' log-probabilities."""

    name = "logprob"
    stop: tuple[str, ...] = ("\n",)
    requires = frozenset({"logprobs"})

    def __init__(self, aggregation: str = "mean_prob") -> None:
        if aggregation not in AGGREGATIONS:
            raise ParameterError(
                f"extractor 'logprob': aggregation must be one of {', '.join(AGGREGATIONS)}, "
                f"not {aggregation!r}"
            )
        self.aggregation = aggregation
        self._aggregate = AGGREGATIONS[aggregation]

    def prompt(self, example: Example) -> str:
        return formats.plain_prompt(example.question)

    def format_completion(self, answer: str) -> str:
        """The completion this extractor's prompt expects for ``answer`` (for trainers)."""
        return formats.plain_completion(answer)

    def extract(self, generation: Generation) -> Prediction:
        answer = generation.text.split("\n", 1)[0].strip()

        def missing(reason: str) -> Prediction:
            return Prediction(
                example_id=generation.example_id,
                answer=answer,
                confidence=None,
                extractor=self.name,
                error=reason,
            )

        if generation.error:
            return missing(f"generation failed: {generation.error}")
        if not answer:
            return missing("empty answer")
        if not generation.logprobs:
            return missing("the generation has no log-probabilities")
        if len(generation.logprobs) != len(generation.tokens):
            return missing(
                f"{len(generation.tokens)} tokens but {len(generation.logprobs)} log-probabilities"
            )
        picked = answer_token_indices(generation.tokens)
        if not picked:
            return missing("no answer tokens")
        values = [generation.logprobs[i] for i in picked]
        if any(v is None or not math.isfinite(v) or v > 1e-6 for v in values):
            return missing("an answer token has no valid log-probability")
        confidence = min(1.0, max(0.0, self._aggregate([min(0.0, v) for v in values])))
        return Prediction(
            example_id=generation.example_id, answer=answer, confidence=confidence, extractor=self.name
        )


def answer_token_indices(tokens: Sequence[str]) -> list[int]:
    """Indices of the tokens that spell the stripped first line of the tokens' text."""
    end = len(tokens)
    while end > 0 and _SPECIAL.match(tokens[end - 1]):  # end-of-sequence and friends
        end -= 1
    starts, at = [], 0
    for token in tokens[:end]:
        starts.append(at)
        at += len(token)
    text = "".join(tokens[:end])
    line = text.split("\n", 1)[0]
    first = len(line) - len(line.lstrip())
    last = len(line.rstrip())
    picked = []
    for i, start in enumerate(starts):
        stop = start + len(tokens[i])
        if start < last and (stop > first or (start == stop and start >= first)):
            picked.append(i)
    return picked
