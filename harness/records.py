"""Records that flow between the stages of an experiment.

Each stage reads and writes streams of these small frozen records as JSON Lines
(``Task -> Example -> Generation -> Prediction -> Judgment``). Every record has one
explicit ``to_dict`` / ``from_dict`` pair; fields are JSON-native, and a missing value
is ``None`` (never NaN) so the files round-trip exactly. ``from_dict`` ignores keys it
does not know (files written by a newer version still read) and raises ``RecordError``
(an ``InputError`` and a ``KeyError``) when a required field is missing.
"""

from __future__ import annotations

from typing import Any

import attrs

from harness.errors import RecordError

GRADES = ("correct", "incorrect", "not_attempted")


def _plain(record: Any) -> dict[str, Any]:
    return attrs.asdict(record, recurse=False)


def _build(cls: type, data: dict[str, Any]) -> Any:
    names = {f.name for f in attrs.fields(cls)}
    missing = [
        f.name
        for f in attrs.fields(cls)
        if f.default is attrs.NOTHING and f.name not in data
    ]
    if missing:
        raise RecordError(f"{cls.__name__} is missing field(s): {', '.join(missing)}")
    return cls(**{k: v for k, v in data.items() if k in names})


@attrs.frozen(kw_only=True)
class Example:
    """One question of a task, with its gold answer.

    ``group`` keys examples that share what they ask about (for ``facts``, the entity):
    a train/test split keeps a group on one side, and the bootstrap resamples groups.
    ``subgroup`` labels a slice the report breaks results down by (``facts``: seen or
    unseen entity; ``simpleqa``: topic).
    """

    id: str
    question: str
    answer: str
    metadata: dict[str, Any] = attrs.field(factory=dict)
    group: str | None = None
    subgroup: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Example:
        return _build(cls, data)


@attrs.frozen(kw_only=True)
class Generation:
    """What a backend produced for one prompt.

    ``logprobs[i]`` is the log-probability of ``tokens[i]``; ``logprob_kind`` says which
    kind (``raw``: log-softmax of the unprocessed logits; ``processed``: after
    temperature and other logits processors). ``entropies[i]`` is the entropy (nats) of the
    next-token distribution ``tokens[i]`` was drawn from (empty where the backend gives
    none). For a request of ``n > 1`` samples, ``samples`` holds the ``n`` sampled texts,
    each cut at the stop strings like ``text``; ``text`` is ``samples[0]`` and ``tokens``
    and ``logprobs`` are the first sample's.
    """

    example_id: str
    prompt: str
    text: str
    tokens: list[str] = attrs.field(factory=list)
    logprobs: list[float] = attrs.field(factory=list)
    logprob_kind: str = "raw"
    finish_reason: str | None = None
    model: str = ""
    backend: str = ""
    error: str | None = None
    samples: list[str] = attrs.field(factory=list)
    entropies: list[float] = attrs.field(factory=list)

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Generation:
        return _build(cls, data)


@attrs.frozen(kw_only=True)
class Scores:
    """What a backend's ``score`` gave for one prompt: ``logprobs[i]`` is the log-probability
    of ``continuations[i]`` after ``prompt`` (summed over the continuation's tokens, which are
    the continuation tokenized on its own and appended to the prompt's), ``None`` where it
    could not be taken; ``error`` says why a whole request failed."""

    example_id: str
    prompt: str
    continuations: list[str]
    logprobs: list[float | None] = attrs.field(factory=list)
    model: str = ""
    backend: str = ""
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scores:
        return _build(cls, data)


@attrs.frozen(kw_only=True)
class Prediction:
    """An answer and a confidence in [0, 1] taken from a generation by an extractor.

    ``confidence`` is ``None`` when the extractor could not take one; ``error`` says why.
    """

    example_id: str
    answer: str
    confidence: float | None
    extractor: str = ""
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Prediction:
        return _build(cls, data)


@attrs.frozen(kw_only=True)
class Judgment:
    """A judge's grade of one prediction.

    ``grade`` is one of ``GRADES``, or ``None`` when grading failed (``error`` says why;
    such a judgment is counted, never treated as incorrect). ``confidence`` (in [0, 1]) is
    set by a judge that extracts the model's stated confidence itself, as HLE's judge does;
    the report then uses it instead of the extractor's. ``input_key`` is the hash of what the
    judge was shown and of its verdict settings (``harness.judging.inputs``): resume keeps a
    verdict only for the very input it was given.
    """

    example_id: str
    grade: str | None
    judge: str = ""
    model: str = ""
    answer: str = ""
    raw: str | None = None
    error: str | None = None
    cached: bool = False
    usage: dict[str, int] = attrs.field(factory=dict)
    confidence: float | None = None
    input_key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Judgment:
        return _build(cls, data)


#: where a trained adapter applies: to everything, or to an extractor's follow-up requests only
ADAPTER_SCOPES = ("all", "follow_ups")


@attrs.frozen(kw_only=True)
class ModelRef:
    """A model to generate with: a hub id or local folder, plus an optional adapter.

    ``scope = "follow_ups"``: the adapter serves only the follow-up requests of a multi-request
    extractor (e.g. the P(True) query); the answers stay the base model's, by construction."""

    base: str
    adapter: str | None = None
    scope: str = attrs.field(default="all", validator=attrs.validators.in_(ADAPTER_SCOPES))

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelRef:
        return _build(cls, data)


@attrs.frozen(kw_only=True)
class TrainingRecord:
    """One judged answer of the training split, as a trainer receives it.

    ``prompt`` is the exact prompt text the model was given (before any chat template),
    ``completion`` the raw generated text, ``answer`` and ``confidence`` what the
    extractor took from it, ``correct`` the judge's verdict.
    """

    example: Example
    prompt: str
    completion: str
    answer: str
    confidence: float | None
    correct: bool

    def to_dict(self) -> dict[str, Any]:
        data = _plain(self)
        data["example"] = self.example.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingRecord:
        data = dict(data)
        if "example" in data:
            data["example"] = Example.from_dict(data["example"])
        return _build(cls, data)
