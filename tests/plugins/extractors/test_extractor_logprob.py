"""The ``logprob`` extractor: the answer is the first line, its confidence an aggregate of
the probabilities of exactly the tokens that spell it."""

from __future__ import annotations

import math

import pytest

from harness.errors import ParameterError
from harness.machinery import registry
from harness.plugins.extractors import formats
from harness.plugins.extractors.logprob import LogprobExtractor, answer_token_indices
from harness.records import Example, Generation


def generation(tokens: list[str], logprobs: list[float], **kwargs) -> Generation:  # type: ignore[no-untyped-def]
    return Generation(
        example_id="e1",
        prompt="Question: ?\nAnswer:",
        text="".join(tokens),
        tokens=tokens,
        logprobs=logprobs,
        **kwargs,
    )


LN = math.log


def test_prompt_and_completion_are_the_shared_plain_format() -> None:
    extractor = LogprobExtractor()
    example = Example(id="e1", question="What is the capital of France?", answer="Paris")
    assert extractor.prompt(example) == formats.plain_prompt(example.question)
    assert extractor.format_completion("Paris") == formats.plain_completion("Paris")
    assert extractor.stop == ("\n",)


def test_mean_token_probability_of_the_answer_tokens_only() -> None:
    """The leading space, the newline, what follows it and the end-of-sequence token do not count."""
    g = generation(
        [" ", "Par", "is", " ", "\n", "Rome", "</s>"],
        [LN(0.1), LN(0.8), LN(0.6), LN(0.2), LN(0.3), LN(0.05), LN(0.9)],
    )
    prediction = LogprobExtractor().extract(g)
    assert prediction.answer == "Paris"
    assert prediction.confidence == pytest.approx((0.8 + 0.6) / 2)
    assert (prediction.extractor, prediction.error, prediction.example_id) == ("logprob", None, "e1")


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [
        ("mean_prob", (0.8 + 0.5 + 0.9) / 3),
        ("geo_mean", (0.8 * 0.5 * 0.9) ** (1 / 3)),
        ("product", 0.8 * 0.5 * 0.9),
        ("min", 0.5),
        ("first", 0.8),
    ],
)
def test_aggregations(aggregation: str, expected: float) -> None:
    g = generation([" New", " York", " City"], [LN(0.8), LN(0.5), LN(0.9)])
    assert LogprobExtractor(aggregation=aggregation).extract(g).confidence == pytest.approx(expected)


def test_tokens_that_straddle_the_answer_edges_count() -> None:
    assert answer_token_indices([" Par", "is.\n", "More"]) == [0, 1]
    assert answer_token_indices(["\n", "Paris"]) == []  # the first line is empty
    assert answer_token_indices([" Oslo", "<|im_end|>"]) == [0]


@pytest.mark.parametrize(
    ("tokens", "logprobs", "reason"),
    [
        (["\n", "Paris"], [-0.1, -0.1], "empty answer"),
        ([" ", " "], [-0.1, -0.1], "empty answer"),
        ([" Paris"], [], "no log-probabilities"),
        ([" Paris", " x"], [-0.1], "2 tokens but 1 log-probabilities"),
        ([" Paris"], [float("nan")], "no valid log-probability"),
    ],
)
def test_missing_confidence_says_why(tokens: list[str], logprobs: list[float], reason: str) -> None:
    prediction = LogprobExtractor().extract(generation(tokens, logprobs))
    assert prediction.confidence is None
    assert reason in prediction.error


def test_a_failed_generation_is_a_missing_confidence() -> None:
    g = Generation(example_id="e1", prompt="p", text="", error="400: prompt too long")
    prediction = LogprobExtractor().extract(g)
    assert (prediction.confidence, prediction.error) == (None, "generation failed: 400: prompt too long")


def test_answer_comes_from_the_text_up_to_its_first_newline() -> None:
    g = Generation(
        example_id="e", prompt="p", text="  Paris, France \nand more", tokens=[" Paris"], logprobs=[0.0]
    )
    assert LogprobExtractor().extract(g).answer == "Paris, France"


def test_confidence_is_clipped_to_one_when_rounding_makes_a_logprob_positive() -> None:
    assert LogprobExtractor().extract(generation([" Yes"], [1e-9])).confidence == 1.0


def test_unknown_aggregation_lists_the_known_ones() -> None:
    with pytest.raises(ParameterError, match="mean_prob, geo_mean, product, min, first"):
        LogprobExtractor(aggregation="median")


def test_registered_with_the_seed_default() -> None:
    extractor = registry.create("extractor", "logprob")
    assert (extractor.name, extractor.aggregation) == ("logprob", "mean_prob")
