"""The shapes of strategies, as typing Protocols (the plugin contract in code).

The core talks to strategies only through these methods; a third-party strategy needs
no base class, only these attributes. See CONTRIBUTING.md for each kind.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from harness.records import Example, Generation, Judgment, ModelRef, Prediction, TrainingRecord

if TYPE_CHECKING:  # numpy is not imported by `harness list`
    import numpy as np


@attrs.frozen(kw_only=True)
class GenerationRequest:
    """One prompt to generate from: the extractor's prompt text (before any chat
    template) and the strings that end the answer (end-of-sequence always does)."""

    example_id: str
    prompt: str
    stop: tuple[str, ...] = ()


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


@runtime_checkable
class Extractor(Protocol):
    name: str
    stop: tuple[str, ...]

    def prompt(self, example: Example) -> str: ...

    def extract(self, generation: Generation) -> Prediction: ...


@runtime_checkable
class Judge(Protocol):
    name: str
    model: str
    prompt_version: str

    async def grade(self, example: Example, prediction: Prediction) -> Judgment: ...


@runtime_checkable
class Calibrator(Protocol):
    """A post-hoc map from a confidence to a calibrated one, fitted on training answers.

    Built as ``factory(**params)``; the core (``harness.calibration``) calls ``fit`` once,
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
        """The fitted parameters, JSON-ready (for the report)."""
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
