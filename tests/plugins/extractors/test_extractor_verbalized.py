"""The ``verbalized`` extractor: ``Answer: X`` / ``Confidence: Y`` parsed the way the issue
spells out, fuzzed so that no reply can make it raise or leave [0, 1]."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import ParameterError
from harness.machinery import registry
from harness.plugins.extractors import formats
from harness.plugins.extractors.verbalized import VerbalizedExtractor, parse_answer, parse_confidence
from harness.records import Example, Generation


def extract(text: str, **params) -> tuple:  # type: ignore[no-untyped-def]
    """What the parser makes of ``text``; missing confidences left missing unless asked."""
    params.setdefault("on_missing", "exclude")
    prediction = VerbalizedExtractor(**params).extract(Generation(example_id="e", prompt="p", text=text))
    return prediction.answer, prediction.confidence, prediction.error


def test_prompt_and_completion_are_the_shared_format() -> None:
    extractor = VerbalizedExtractor()
    example = Example(id="e", question="What is the capital of France?", answer="Paris")
    assert extractor.prompt(example) == formats.verbalized_prompt(example.question)
    completion = extractor.format_completion("Paris", 0.85)
    assert completion == formats.verbalized_completion("Paris", 0.85) == "Answer: Paris\nConfidence: 0.85"
    assert extract(completion) == ("Paris", 0.85, None)  # what training writes, evaluation reads
    assert "\n" not in extractor.stop  # the completion has two lines


@pytest.mark.parametrize(
    ("stated", "value"),
    [
        ("0.9", 0.9),
        (".9", 0.9),
        ("90%", 0.9),
        ("90 %", 0.9),
        ("90", 0.9),  # a bare number above 1 and at most 100 is a percentage
        ("100", 1.0),
        ("1", 1.0),
        ("0", 0.0),
        ("1.5", 0.015),
        ("**0.75**", 0.75),
        ("0.6.", 0.6),
        ("(80%)", 0.8),
    ],
)
def test_accepted_confidences(stated: str, value: float) -> None:
    answer, confidence, error = extract(f"Answer: Paris\nConfidence: {stated}")
    assert (answer, error) == ("Paris", None)
    assert confidence == pytest.approx(value)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Answer: Paris\nConfidence: high", "not a number"),
        ("Answer: Paris\nConfidence: -0.3", "negative"),
        ("Answer: Paris\nConfidence: 120%", "above 100%"),
        ("Answer: Paris\nConfidence: 250", "above 100"),
        ("Answer: Paris\nConfidence: 0.8 or 0.9", "several values"),
        ("Answer: Paris\nConfidence: 0.8\nConfidence: 0.6", "conflicting"),
        ("Answer: Paris\nConfidence:", "empty confidence"),
        ("Answer: Paris", "no 'Confidence:' line"),
        ("", "no 'Confidence:' line"),
    ],
)
def test_anything_else_is_missing_with_its_reason(text: str, reason: str) -> None:
    _, confidence, error = extract(text)
    assert confidence is None
    assert reason in error


def test_a_repeated_identical_value_is_not_a_conflict() -> None:
    assert parse_confidence("Confidence: 0.7\nConfidence: 70%") == (0.7, None)


def test_answers() -> None:
    assert parse_answer("Answer: Paris\nConfidence: 0.9") == "Paris"
    assert parse_answer("answer:   New York City  \nConfidence: 0.9") == "New York City"
    assert parse_answer("Answer: Paris (Confidence: 90%)") == "Paris"
    assert parse_answer("**Answer:** Paris") == "Paris"
    assert parse_answer("Paris\nConfidence: 0.9") == "Paris"  # no Answer: line: the first other line
    assert parse_answer("Confidence: 0.9") == ""


def test_on_missing_names_what_the_core_imputes_and_the_prediction_stays_missing() -> None:
    """The extractor reports a missing confidence; the core imputes it and counts it (issue 22)."""
    assert extract("Answer: Paris", on_missing=0.5) == ("Paris", None, "no 'Confidence:' line")
    assert VerbalizedExtractor(on_missing=0.5).missing_confidence == 0.5
    assert VerbalizedExtractor(on_missing="100%").missing_confidence == 1.0
    assert VerbalizedExtractor(on_missing="exclude").missing_confidence is None  # the run's rule
    assert extract("Answer: Paris\nConfidence: 0.4", on_missing=1.0) == ("Paris", 0.4, None)


@pytest.mark.parametrize("bad", ["sometimes", 1.5, -0.1, True, "150%"])
def test_on_missing_must_be_exclude_or_a_confidence(bad: object) -> None:
    with pytest.raises(ParameterError, match="on_missing"):
        VerbalizedExtractor(on_missing=bad)  # type: ignore[arg-type]


def test_hle_mode_asks_for_a_percentage_and_takes_a_missing_one_as_100() -> None:
    """HLE's system prompt asks for an explanation, the answer and ``Confidence: X%``; HLE's
    judge takes a missing confidence as 100%."""
    extractor = VerbalizedExtractor(scale="percent", on_missing="hle")
    prompt = extractor.prompt(Example(id="e", question="Who wrote Hamlet?", answer="Shakespeare"))
    assert prompt == formats.verbalized_prompt("Who wrote Hamlet?", formats.PERCENT_TEMPLATE)
    assert "Explanation:" in prompt and "from 0% to 100%" in prompt
    assert extractor.stop == ()  # an explanation may have paragraphs
    reply = "Explanation: the play is his.\n\nAnswer: Shakespeare\nConfidence: 85%"
    assert extract(reply, scale="percent") == ("Shakespeare", 0.85, None)
    assert extract("Answer: X\nConfidence: 1", scale="percent")[1] == 0.01  # a bare number is a percentage
    assert extract("Answer: X\nConfidence: 1")[1] == 1.0  # on the unit scale it is a probability
    assert extract("Explanation: hm\nAnswer: Shakespeare", scale="percent", on_missing="hle")[1:] == (
        None, "no 'Confidence:' line")
    assert extractor.missing_confidence == 1.0


def test_the_scale_is_unit_or_percent() -> None:
    with pytest.raises(ParameterError, match="scale must be 'unit' or 'percent'"):
        VerbalizedExtractor(scale="permille")  # type: ignore[arg-type]


def test_a_failed_generation_is_never_filled() -> None:
    g = Generation(example_id="e", prompt="p", text="", error="timeout")
    prediction = VerbalizedExtractor(on_missing=1.0).extract(g)
    assert (prediction.confidence, prediction.error) == (None, "generation failed: timeout")


def test_a_missing_confidence_counts_as_fully_confident_by_default() -> None:
    """HLE's rule: leaving the confidence out can never improve a calibration score. The core
    imputes it (``missing_confidence``), so the counts and ``coverage`` see it."""
    extractor = registry.create("extractor", "verbalized")
    assert (extractor.name, extractor.on_missing, extractor.missing_confidence) == ("verbalized", 1.0, 1.0)
    prediction = extractor.extract(Generation(example_id="e", prompt="p", text="Answer: Paris"))
    assert prediction.confidence is None and prediction.error == "no 'Confidence:' line"


# -- fuzzing ----------------------------------------------------------------------------------

pieces = st.sampled_from(
    [
        "Answer:",
        "Confidence:",
        "confidence :",
        "\n",
        " ",
        "%",
        ".",
        "-",
        "0",
        "1",
        "9",
        "90",
        "100",
        "1e5",
        "nan",
        "inf",
        "high",
        "**",
        "(",
        ")",
        "0.5",
        "−",
        "½",
        "٣",
        "\x00",
        "Answer: Paris",
    ]
)
replies = st.one_of(
    st.text(max_size=80), st.lists(st.one_of(pieces, st.text(max_size=5)), max_size=12).map("".join)
)


@settings(max_examples=400, deadline=None)
@given(replies)
def test_the_parser_never_raises_and_stays_in_range(text: str) -> None:
    confidence, reason = parse_confidence(text)
    assert (confidence is None) != (reason is None)
    if confidence is not None:
        assert 0.0 <= confidence <= 1.0
    else:
        assert isinstance(reason, str) and reason
    answer, confidence2, error = extract(text)
    assert isinstance(answer, str) and (confidence2, error) == (confidence, reason)


@settings(max_examples=200, deadline=None)
@given(
    st.floats(min_value=0, max_value=1, allow_nan=False),
    st.text(alphabet=st.characters(categories=["L", "N"]), min_size=1, max_size=20),
)
def test_what_the_trainer_writes_parses_back(confidence: float, answer: str) -> None:
    parsed = extract(formats.verbalized_completion(answer, confidence))
    assert parsed[1] == pytest.approx(round(confidence, 2), abs=1e-9)
    assert (parsed[0], parsed[2]) == (answer, None)
