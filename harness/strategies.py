"""The shapes of strategies, as typing Protocols (the plugin contract in code).

The core talks to strategies only through these methods; a third-party strategy needs
no base class, only these attributes. See CONTRIBUTING.md for each kind.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from harness.records import Example, Generation, Judgment, ModelRef, Prediction, Scores, TrainingRecord

if TYPE_CHECKING:  # numpy is not imported by `harness list`
    import numpy as np


#: what a backend can serve (its ``capabilities``) and an extractor can require (``requires``)
CAPABILITIES = ("logprobs", "entropies", "samples", "scores")


@attrs.frozen(kw_only=True)
class GenerationRequest:
    """One prompt to generate from: the extractor's prompt text (before any chat
    template) and the strings that end the answer (end-of-sequence always does).

    ``n > 1`` asks for that many samples in one go (``Generation.samples``), drawn at
    ``temperature`` (``None``: the backend's own setting) from a generator seeded with
    ``seed`` (``None``: the backend's own seed)."""

    example_id: str
    prompt: str
    stop: tuple[str, ...] = ()
    n: int = 1
    temperature: float | None = None
    seed: int | None = None


@attrs.frozen(kw_only=True)
class ScoreRequest:
    """The log-probability of each of ``continuations`` after ``prompt`` (e.g. of ``" A"`` and
    ``" B"`` after a multiple-choice question), served by a backend's ``score``."""

    example_id: str
    prompt: str
    continuations: tuple[str, ...]


FollowUp = GenerationRequest | ScoreRequest


@runtime_checkable
class Task(Protocol):
    def examples(self) -> list[Example]: ...


@runtime_checkable
class Backend(Protocol):
    """Built as ``factory(model=..., adapter=..., **params)``."""

    name: str
    #: where the model really lives once resolved (a local folder or a hub id)
    model_path: str

    def generate(
        self, requests: Sequence[GenerationRequest], *, progress: bool = True
    ) -> Iterator[Generation]:
        """Yield one ``Generation`` per request, in any order, as soon as each is ready."""
        ...

    # Optional: ``capabilities``, a frozenset of ``CAPABILITIES`` this backend serves as built
    # (a backend without it is taken to serve ``logprobs`` only, and nothing is checked up
    # front); and ``score(requests: Sequence[ScoreRequest], *, progress=True) ->
    # Iterator[Scores]``, one ``Scores`` per request, for the ``scores`` capability.


@runtime_checkable
class Extractor(Protocol):
    """Takes an answer and a confidence from the greedy generation of ``prompt(example)``.

    A *multi-request* extractor also has ``follow_ups`` (see ``FollowUpExtractor``): then the
    core calls ``extract(generation, responses)`` with what the backend gave for them."""

    name: str
    stop: tuple[str, ...]

    def prompt(self, example: Example) -> str: ...

    def extract(self, generation: Generation) -> Prediction: ...


@runtime_checkable
class FollowUpExtractor(Protocol):
    """An extractor that needs more than the greedy generation: samples at a temperature, a
    second prompt that embeds the first answer, or the probability of given continuations.

    ``follow_ups`` names the requests one example needs once its greedy generation is there
    (an empty mapping: none); the core batches them across examples, the backend serves them
    (``generate`` for a ``GenerationRequest``, ``score`` for a ``ScoreRequest``), and
    ``extract`` receives the answers under the same keys. ``requires`` lists the backend
    ``CAPABILITIES`` it needs: a backend that lacks one is refused before any work."""

    name: str
    stop: tuple[str, ...]
    requires: frozenset[str]

    def prompt(self, example: Example) -> str: ...

    def follow_ups(self, example: Example, generation: Generation) -> Mapping[str, FollowUp]: ...

    def extract(self, generation: Generation, responses: Mapping[str, Generation | Scores]) -> Prediction: ...


@runtime_checkable
class Judge(Protocol):
    name: str
    model: str
    prompt_version: str

    async def grade(self, example: Example, prediction: Prediction) -> Judgment: ...


@runtime_checkable
class Calibrator(Protocol):
    """A post-hoc map from a confidence to a calibrated one, fitted on answers it is not applied to.

    Built as ``factory(**params)``; the core (``harness.statistics.calibration``) calls ``fit`` once,
    then the object itself on new confidences, and checks what comes back.
    """

    name: str

    def fit(self, confidence: np.ndarray, correct: np.ndarray) -> None:
        """Fit on 1-D float64 confidences in [0, 1] and bool correctness of one length;
        ``InsufficientDataError`` when they cannot be fitted (one class, < 2 answers)."""
        ...

    def __call__(self, confidence: np.ndarray) -> np.ndarray:
        """Calibrated confidences in [0, 1], of the shape of ``confidence``."""
        ...

    def fitted(self) -> dict[str, Any]:
        """The fitted parameters, JSON-ready (for the report), and all a fresh calibrator built with
        the same parameters needs to give the same map: what ``harness export`` saves. A calibrator
        that can be exported also has ``restore(state)``, which loads that dict (see CONTRIBUTING)."""
        ...


@runtime_checkable
class Trainer(Protocol):
    name: str
    #: the extractor the trained model is evaluated with (e.g. ``logprob``)
    extractor: str
    #: the extractor whose judged answers of the training split it trains on
    #: (optional; defaults to ``extractor``)
    train_extractor: str

    def train(
        self,
        model: ModelRef,
        records: Sequence[TrainingRecord],
        out_dir: Path,
        extractor: Extractor,
    ) -> ModelRef: ...
