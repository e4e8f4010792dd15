"""The ``consistency`` extractor: the share of ``k`` sampled answers that agree with the greedy one."""

from __future__ import annotations

import pytest
from extractor_helpers import EXAMPLE, greedy

from harness.errors import ParameterError
from harness.plugins.extractors.answers import normalized
from harness.plugins.extractors.consistency import ConsistencyExtractor
from harness.strategies import GenerationRequest


def sampled(*texts: str):  # type: ignore[no-untyped-def]
    return {"samples": greedy(texts[0], samples=list(texts))}


def test_it_asks_for_k_seeded_samples_of_the_same_prompt() -> None:
    extractor = ConsistencyExtractor(k=4, temperature=0.7, seed=3)
    assert extractor.follow_ups(EXAMPLE, greedy()) == {"samples": GenerationRequest(
        example_id="e1", prompt=extractor.prompt(EXAMPLE), stop=("\n",), n=4, temperature=0.7, seed=3)}


def test_every_sample_equal_to_the_answer_is_full_confidence() -> None:
    got = ConsistencyExtractor(k=3).extract(greedy(" red"), sampled(" red", " red", " red"))
    assert (got.answer, got.confidence, got.error) == ("red", 1.0, None)


def test_the_share_that_agrees_after_normalisation() -> None:
    """Case, punctuation, articles and spaces do not matter under ``normalized``; they do under ``exact``."""
    samples = sampled(" The Red.", " red", " blue", " RED ")
    assert ConsistencyExtractor(k=4).extract(greedy(" red"), samples).confidence == 0.75
    assert ConsistencyExtractor(k=4, match="exact").extract(greedy(" red"), samples).confidence == 0.25
    assert normalized("  The  Eiffel-Tower! ") == "eiffeltower"


@pytest.mark.parametrize(("responses", "reason"), [
    ({}, "no samples were drawn"),
    (sampled(" red", " red"), "2 samples instead of 3"),
    ({"samples": greedy("", error="HTTP 500")}, "sampling failed: HTTP 500"),
])
def test_missing_samples_are_a_missing_confidence(responses, reason) -> None:  # type: ignore[no-untyped-def]
    got = ConsistencyExtractor(k=3).extract(greedy(" red"), responses)
    assert got.confidence is None and reason in got.error


@pytest.mark.parametrize(("params", "message"), [
    ({"k": 1}, "k must be an integer of at least 2"),
    ({"temperature": 0.0}, "temperature must be above 0"),
    ({"match": "judge?"}, "match must be one of normalized, exact, judge"),
])
def test_bad_parameters_are_one_line(params, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ParameterError, match=message):
        ConsistencyExtractor(**params)


def test_with_match_judge_only_the_samples_that_differ_in_text_go_to_the_judge() -> None:
    from harness.records import Judgment

    extractor = ConsistencyExtractor(k=4, match="judge")
    samples = sampled(" red", " The red.", " crimson", " blue")
    asked = extractor.to_judge(EXAMPLE, greedy(" red"), samples)
    assert sorted(asked) == ["sample2", "sample3"]  # "The red." is the answer after normalisation
    gold, prediction = asked["sample2"]
    assert (gold.question, gold.answer, prediction.answer) == (EXAMPLE.question, "red", "crimson")
    verdicts = {"sample2": Judgment(example_id="e1", grade="correct"),
                "sample3": Judgment(example_id="e1", grade="incorrect")}
    assert extractor.extract(greedy(" red"), {**samples, **verdicts}).confidence == 0.75
    unjudged = extractor.extract(greedy(" red"), {**samples, "sample2": verdicts["sample2"]})
    assert unjudged.confidence is None and "could not be judged" in unjudged.error
    assert ConsistencyExtractor(k=4).to_judge(EXAMPLE, greedy(" red"), samples) == {}  # normalized: never
