"""The ``verbalized2`` extractor: the plain answer, then a second turn that shows the model its
answer and asks for its confidence, parsed as ``verbalized`` parses it."""

from __future__ import annotations

import pytest
from extractor_helpers import EXAMPLE, greedy

from harness.plugins.extractors import formats
from harness.plugins.extractors.verbalized2 import SecondTurnExtractor


def test_the_second_turn_embeds_the_question_and_the_answer() -> None:
    (request,) = SecondTurnExtractor().follow_ups(EXAMPLE, greedy(" red")).values()
    assert request.prompt == (f"Question: {EXAMPLE.question}\nAnswer: red\n" + formats.SECOND_TURN_TEMPLATE)
    assert (request.n, request.temperature) == (1, 0.0)  # greedy


def test_the_stated_confidence_is_parsed() -> None:
    got = SecondTurnExtractor().extract(greedy(" red"), {"second_turn": greedy("Confidence: 0.85")})
    assert (got.answer, got.confidence, got.error) == ("red", pytest.approx(0.85), None)


def test_a_missing_confidence_is_reported_and_on_missing_names_what_the_core_imputes() -> None:
    reply = {"second_turn": greedy("I am not sure")}
    missing = SecondTurnExtractor().extract(greedy(" red"), reply)
    assert missing.confidence is None and "no 'Confidence:' line" in missing.error
    assert SecondTurnExtractor().missing_confidence == 1.0
    assert SecondTurnExtractor(on_missing=0.3).missing_confidence == 0.3
    assert SecondTurnExtractor(on_missing="exclude").missing_confidence is None
