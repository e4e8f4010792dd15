"""calibration-harness: measure and train how well a model's confidence matches its accuracy.

``import harness`` is the one public surface; everything else may move between releases. It holds:

- for plugin authors: ``hookimpl`` (``@harness.hookimpl``); the records that flow between
  stages (``Example``, ``Generation``, ``Scores``, ``Prediction``, ``Judgment``, ``ModelRef``,
  ``TrainingRecord``, ``GRADES``) and the requests (``GenerationRequest``, ``ScoreRequest``); the
  shapes of strategies as ``typing.Protocol``s (``Task``, ``Backend``, ``Extractor``,
  ``FollowUpExtractor`` with the backend ``CAPABILITIES`` it may require, ``Judge``,
  ``Calibrator``, ``Trainer``); the errors (``HarnessError`` and its kinds); ``vectorized`` and
  ``Resamples`` (a metric's all-resamples-at-once form); the core's helpers a strategy calls:
  ``fit_calibrator`` / ``Fitted`` / ``saved_map`` / ``restore_calibrator`` (calibrators),
  ``TrainingJudge`` / ``TrainingJudgeError`` / ``EmptyReply`` (judging), ``check_trackers``
  (a trainer's ``report_to``);
- for notebooks and scripts: ``ExperimentSpec``, ``run_experiment``, ``run_sweep``, ``load_run``
  and the ``RunResults`` / ``Outcome`` it returns (``harness.api``).

Test helpers for plugins are in ``harness.testing``. The old module paths a plugin may import
(``harness.errors``, ``.records``, ``.strategies``, ``.judging``, ``.calibration``, ``.tracking``,
``.testing``) keep working. Everything but ``hookimpl`` loads on first use (PEP 562), so
``import harness`` stays cheap and ``harness --help`` fast; torch, transformers and API SDKs load
inside the strategies that need them. docs/architecture.md maps the subpackages.
"""

from __future__ import annotations

import importlib
from typing import Any

from harness.machinery.hookspecs import hookimpl

__version__ = "0.1.0"

# name -> the module that defines it
_LAZY: dict[str, str] = {
    **dict.fromkeys(("Example", "Generation", "Scores", "Prediction", "Judgment", "ModelRef",
                     "TrainingRecord", "GRADES"), "harness.records"),
    **dict.fromkeys(("GenerationRequest", "ScoreRequest", "CAPABILITIES", "Task", "Backend", "Extractor",
                     "FollowUpExtractor", "Judge", "Calibrator", "Trainer"),
                    "harness.strategies"),
    **dict.fromkeys(("HarnessError", "InputError", "RecordError", "ParameterError", "InsufficientDataError",
                     "PluginContractError", "PluginLoadError", "StorageError", "UnknownStrategyError"),
                    "harness.errors"),
    "vectorized": "harness.statistics.bootstrap",
    "Resamples": "harness.statistics.bootstrap",
    **dict.fromkeys(("fit_calibrator", "Fitted", "saved_map", "restore_calibrator"),
                    "harness.statistics.calibration"),
    **dict.fromkeys(("TrainingJudge", "TrainingJudgeError"), "harness.judging"),
    "EmptyReply": "harness.judging.retries",
    "check_trackers": "harness.running.tracking",
    **dict.fromkeys(("ExperimentSpec", "run_experiment", "run_sweep", "load_run", "RunResults", "Outcome"),
                    "harness.api"),
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
