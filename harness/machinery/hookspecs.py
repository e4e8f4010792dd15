"""The plugin contract: one pluggy hook per kind of strategy.

Each hook receives a ``register(name, factory)`` callback owned by the core; a plugin
calls it once per strategy and returns nothing. The core records which distribution
registered what, keeps the first of two registrations of one name (the later one is
listed as broken and selectable as ``distribution:name``), and applies the parameters of
``registry.toml``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

PROJECT = "harness"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Register = Callable[[str, Callable[..., Any]], None]

# The kinds, their hooks and factory shapes are one table: harness.machinery.kinds.KINDS.


@hookspec
def register_tasks(register: Register) -> None:
    """Register tasks: ``register(name, factory)``; ``factory(**params).examples()``
    returns the task's ``Example`` records."""


@hookspec
def register_backends(register: Register) -> None:
    """Register generation backends: ``factory(model=..., adapter=..., **params)`` returns
    an object whose ``generate(requests)`` yields ``Generation`` records."""


@hookspec
def register_extractors(register: Register) -> None:
    """Register confidence extractors: ``factory(**params)`` returns an object with
    ``prompt(example) -> str``, ``stop`` and ``extract(generation) -> Prediction``."""


@hookspec
def register_judges(register: Register) -> None:
    """Register judges: ``factory(**params)`` returns an object with
    ``async grade(example, prediction) -> Judgment``; the core adds concurrency,
    retries, caching and resume."""


@hookspec
def register_metrics(register: Register) -> None:
    """Register metrics: plain functions ``fn(confidence, correct, **params) -> float``
    of two NumPy arrays (confidence in [0, 1], correct as bool)."""


@hookspec
def register_calibrators(register: Register) -> None:
    """Register post-hoc calibrators: ``factory(**params)`` returns an object with
    ``fit(confidence, correct)``, ``__call__(confidence) -> calibrated confidence`` and
    ``fitted() -> dict`` (its fitted parameters, JSON-ready)."""


@hookspec
def register_trainers(register: Register) -> None:
    """Register trainers: ``factory(**params)`` returns an object with an ``extractor``
    name and ``train(model, records, out_dir, extractor) -> ModelRef``."""
