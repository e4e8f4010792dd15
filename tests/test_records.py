"""Records between stages: frozen, JSON-native, one exact to_dict / from_dict round trip each."""

from __future__ import annotations

import json

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import InputError, RecordError
from harness.records import (
    GRADES,
    Example,
    Generation,
    Judgment,
    ModelRef,
    Prediction,
    TrainingRecord,
)

text = st.text(max_size=30)
finite = st.floats(allow_nan=False, allow_infinity=False)
json_scalars = st.none() | st.booleans() | st.integers() | finite | text
metadata = st.dictionaries(st.text(max_size=10), json_scalars, max_size=4)

examples = st.builds(
    Example, id=text, question=text, answer=text, metadata=metadata, group=st.none() | text
)
generations = st.builds(
    Generation,
    example_id=text,
    prompt=text,
    text=text,
    tokens=st.lists(text, max_size=5),
    logprobs=st.lists(st.floats(max_value=0.0, allow_nan=False, allow_infinity=False), max_size=5),
    logprob_kind=st.sampled_from(["raw", "processed"]),
    finish_reason=st.none() | st.sampled_from(["stop", "length"]),
    model=text,
    backend=text,
    error=st.none() | text,
)
predictions = st.builds(
    Prediction,
    example_id=text,
    answer=text,
    confidence=st.none() | st.floats(0.0, 1.0),
    extractor=text,
    error=st.none() | text,
)
judgments = st.builds(
    Judgment,
    example_id=text,
    grade=st.none() | st.sampled_from(GRADES),
    judge=text,
    model=text,
    answer=text,
    raw=st.none() | text,
    error=st.none() | text,
    cached=st.booleans(),
    usage=st.dictionaries(st.sampled_from(["prompt_tokens", "completion_tokens"]), st.integers(0, 10**6)),
)
model_refs = st.builds(ModelRef, base=text, adapter=st.none() | text)
training_records = st.builds(
    TrainingRecord,
    example=examples,
    prompt=text,
    completion=text,
    answer=text,
    confidence=st.none() | st.floats(0.0, 1.0),
    correct=st.booleans(),
)
any_record = examples | generations | predictions | judgments | model_refs | training_records


@given(any_record)
def test_every_record_round_trips_through_a_json_line(record):
    line = json.dumps(record.to_dict(), allow_nan=False)
    assert type(record).from_dict(json.loads(line)) == record


@given(any_record)
def test_to_dict_holds_every_field_and_nothing_else(record):
    assert set(record.to_dict()) == {f.name for f in attrs.fields(type(record))}


def test_a_training_record_nests_its_example_as_a_plain_dict():
    record = TrainingRecord(
        example=Example(id="q1", question="2+2?", answer="4", metadata={"topic": "math"}),
        prompt="Question: 2+2?\nAnswer:",
        completion=" 4",
        answer="4",
        confidence=0.9,
        correct=True,
    )
    data = record.to_dict()
    assert data["example"] == {
        "id": "q1", "question": "2+2?", "answer": "4", "metadata": {"topic": "math"}, "group": None,
        "subgroup": None,
    }
    assert TrainingRecord.from_dict(data) == record


def test_optional_fields_take_their_defaults_when_absent():
    generation = Generation.from_dict({"example_id": "q1", "prompt": "p", "text": "t"})
    assert generation == Generation(example_id="q1", prompt="p", text="t")
    assert (generation.tokens, generation.logprobs, generation.logprob_kind) == ([], [], "raw")
    assert Judgment.from_dict({"example_id": "q1", "grade": "correct"}).usage == {}


def test_a_missing_value_is_none_never_nan():
    prediction = Prediction(example_id="q1", answer="", confidence=None, error="no Confidence: line")
    assert json.dumps(prediction.to_dict(), allow_nan=False)  # strict JSON
    assert prediction.to_dict()["confidence"] is None


def test_unknown_keys_are_ignored_so_newer_files_still_read():
    data = {"example_id": "q1", "answer": "Paris", "confidence": 0.4, "added_in_v2": [1, 2]}
    assert Prediction.from_dict(data) == Prediction(example_id="q1", answer="Paris", confidence=0.4)


@pytest.mark.parametrize(
    ("cls", "data", "missing"),
    [
        (Example, {"id": "q1"}, "question, answer"),
        (Generation, {"prompt": "p", "text": "t"}, "example_id"),
        (Prediction, {"example_id": "q1", "answer": "a"}, "confidence"),
        (Judgment, {"example_id": "q1"}, "grade"),
        (ModelRef, {"adapter": "out/lora"}, "base"),
        (TrainingRecord, {"prompt": "p"}, "example, completion, answer, confidence, correct"),
    ],
)
def test_a_missing_required_field_is_named(cls, data, missing):
    with pytest.raises(RecordError) as info:
        cls.from_dict(data)
    assert str(info.value) == f"{cls.__name__} is missing field(s): {missing}"
    assert isinstance(info.value, InputError) and isinstance(info.value, KeyError)


def test_a_nested_example_missing_a_field_is_named():
    with pytest.raises(RecordError, match="Example is missing field"):
        TrainingRecord.from_dict(
            {"example": {"id": "q1"}, "prompt": "", "completion": "", "answer": "",
             "confidence": None, "correct": False}
        )


def test_records_are_frozen_and_keyword_only():
    example = Example(id="q1", question="2+2?", answer="4")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        example.answer = "5"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Example("q1", "2+2?", "4")  # type: ignore[misc]


def test_a_model_ref_is_a_value_equal_and_hashable():
    assert ModelRef(base="tiny") == ModelRef(base="tiny")
    assert hash(ModelRef(base="tiny", adapter="a")) == hash(ModelRef(base="tiny", adapter="a"))
