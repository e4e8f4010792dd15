"""The ``verbalized_followup`` extractor (second-turn verbalized confidence): the model answers the
plain prompt greedily; a second prompt shows it the question and its own answer and asks for
``Confidence: <probability from 0 to 1>``, which is parsed as the ``verbalized`` extractor
parses it. Unlike ``verbalized`` the answer is the plain one (shared with ``logprob``), so only
the confidence differs between the two methods. A missing confidence stays ``None`` (the core
imputes and counts it); ``on_missing`` says what the core imputes, as for ``verbalized``.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.plugins.extractors import formats
from harness.plugins.extractors.answers import PlainAnswer
from harness.plugins.extractors.verbalized import on_missing_value, parse_confidence
from harness.records import Example, Generation, Prediction, Scores
from harness.strategies import GenerationRequest

SECOND_TURN = "second_turn"


class SecondTurnExtractor(PlainAnswer):
    """The plain answer; confidence stated in a second turn that is shown that answer."""

    name = "verbalized_followup"
    requires: frozenset[str] = frozenset()

    def __init__(self, on_missing: str | float = 1.0) -> None:
        self.on_missing = on_missing
        #: what the core imputes for a missing confidence of this extractor (None: the run's rule)
        self.missing_confidence = on_missing_value(on_missing)

    def follow_ups(self, example: Example, generation: Generation) -> dict[str, GenerationRequest]:
        answer = self.answer(generation)
        if not answer:
            return {}
        return {SECOND_TURN: GenerationRequest(example_id=example.id,
                                               prompt=formats.second_turn_prompt(example.question, answer),
                                               stop=("\n",), temperature=0.0)}

    def extract(self, generation: Generation, responses: Mapping[str, Generation | Scores]) -> Prediction:
        if not self.answer(generation):
            return self.missing(generation, "empty answer")
        turn = responses.get(SECOND_TURN)
        if not isinstance(turn, Generation):
            return self.missing(generation, "the second turn was not asked")
        if turn.error:
            confidence, reason = None, f"the second turn failed: {turn.error}"
        else:
            confidence, reason = parse_confidence(turn.text)
        if confidence is None:
            return self.missing(generation, reason or "no confidence")
        prediction = self.predicted(generation, confidence)
        return prediction if reason is None else Prediction(**{**prediction.to_dict(), "error": reason})
