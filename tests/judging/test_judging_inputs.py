"""What a judge is shown, by what it declares it reads, and the verdict key built from it."""

from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.judging.inputs import DEFAULT_READS, reads, shown, verdict_key
from harness.records import Example, Prediction

EXAMPLE = Example(id="e", question="Capital of France?", answer="Paris")
PREDICTION = Prediction(example_id="e", answer="Paris", confidence=0.95)


def key(judge: object, prediction: Prediction = PREDICTION, response: str | None = None,
        name: str = "j") -> str:
    return verdict_key(name, judge, EXAMPLE, prediction, response)


class Judge:
    name, model, prompt_version = "j", "m", "v1"

    def __init__(self, reads: tuple[str, ...] | None = None, settings: dict | None = None) -> None:
        if reads is not None:
            self.reads = reads
        if settings is not None:
            self.verdict_settings = settings


def test_a_judge_that_declares_nothing_reads_the_question_the_gold_and_the_answer() -> None:
    assert reads(Judge()) == DEFAULT_READS
    assert shown(Judge(), EXAMPLE, PREDICTION, "Answer: Paris") == {
        "question": "Capital of France?", "gold": "Paris", "answer": "Paris"}


def test_what_a_judge_does_not_read_does_not_key_its_verdict() -> None:
    other = Prediction(example_id="e", answer="Paris", confidence=0.6)
    assert key(Judge(), PREDICTION, "a") == key(Judge(), other, "b")


def test_what_a_judge_reads_keys_its_verdict() -> None:
    judge = Judge(reads=("question", "gold", "answer", "confidence", "response"))
    other = Prediction(example_id="e", answer="Paris", confidence=0.6)
    keys = {key(judge, PREDICTION, "r1"), key(judge, other, "r1"), key(judge, PREDICTION, "r2"), key(judge)}
    assert len(keys) == 4


def test_a_confidence_the_extractor_failed_to_take_is_shown_as_none() -> None:
    failed = Prediction(example_id="e", answer="Paris", confidence=0.5, error="no 'Confidence:' line")
    assert shown(Judge(reads=("confidence",)), EXAMPLE, failed, None) == {"confidence": None}


def test_verdict_settings_and_the_registered_name_key_the_verdict() -> None:
    hot, cold = Judge(settings={"temperature": 1.0}), Judge(settings={"temperature": 0.0})
    assert key(hot) != key(cold)
    assert key(cold) != key(cold, name="k")


def test_an_unknown_input_is_one_line_naming_the_judge() -> None:
    with pytest.raises(HarnessError, match=r"judge 'j' reads unknown input\(s\) 'metadata'"):
        reads(Judge(reads=("question", "metadata")))
