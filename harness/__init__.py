"""calibration-harness: measure and train how well a model's confidence matches its accuracy.

The public API for plugin authors, importable from ``harness`` itself:

- ``hookimpl``, the marker of a hook implementation (``@harness.hookimpl``);
- the records that flow between stages: ``Example``, ``Generation``, ``Scores``,
  ``Prediction``, ``Judgment``, ``ModelRef``, ``TrainingRecord``, and the requests
  ``GenerationRequest`` and ``ScoreRequest``;
- the shapes of strategies, as ``typing.Protocol``s: ``Task``, ``Backend``, ``Extractor``
  (and ``FollowUpExtractor``, with the backend ``CAPABILITIES`` it may require), ``Judge``,
  ``Calibrator``, ``Trainer``;
- the errors: ``HarnessError`` and its kinds (``InputError``, ``ParameterError``,
  ``InsufficientDataError``, ``PluginContractError``, ...);
- ``vectorized``, which attaches the all-resamples-at-once form of a metric, and the
  ``Resamples`` that form receives.

Everything but ``hookimpl`` loads on first use (PEP 562), so ``import harness`` stays cheap
and ``harness --help`` fast; torch, transformers and API SDKs load inside the strategies
that need them. Test helpers for plugins are in ``harness.testing``.
"""

from __future__ import annotations

import importlib
from typing import Any

from harness.machinery.hookspecs import hookimpl

__version__ = "0.1.0"

# name -> the module that defines it
_LAZY: dict[str, str] = {
    **dict.fromkeys(("Example", "Generation", "Scores", "Prediction", "Judgment", "ModelRef",
                     "TrainingRecord"), "harness.records"),
    **dict.fromkeys(("GenerationRequest", "ScoreRequest", "CAPABILITIES", "Task", "Backend", "Extractor",
                     "FollowUpExtractor", "Judge", "Calibrator", "Trainer"),
                    "harness.strategies"),
    **dict.fromkeys(("HarnessError", "InputError", "RecordError", "ParameterError", "InsufficientDataError",
                     "PluginContractError", "PluginLoadError", "UnknownStrategyError"), "harness.errors"),
    "vectorized": "harness.statistics.bootstrap",
    "Resamples": "harness.statistics.bootstrap",
}

__all__ = ["hookimpl", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
