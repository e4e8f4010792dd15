"""Checks at the boundary between the core and a strategy: what it is built as, what it returns.

Each failure is a ``PluginContractError``: one line that names the strategy, the
distribution that provided it and what was wrong.

- ``checked_metric``: a metric function whose result must be a finite real number, and
  whose exceptions other than a ``HarnessError`` become a ``PluginContractError``;
- ``check_members``: a built object has the members its kind needs (``harness.machinery.kinds``:
  an extractor's ``prompt``, ``extract`` and ``stop``, a judge's ``grade``, ...);
- ``check_examples`` / ``check_generation``: a task gives ``Example`` records with unique ids,
  a backend ``Generation`` records for the requests it was given;
- ``check_restorable`` / ``check_round_trip``: a calibrator that is exported has ``restore(state)``,
  and the map loaded from its saved JSON is the fitted one;
- ``remember`` / ``label``: the registered identity of a built object, so that a later
  check (``harness.running.stages.extract``) can name it.
"""

from __future__ import annotations

import functools
import math
import weakref
from collections.abc import Callable
from typing import Any

from harness.errors import HarnessError, PluginContractError
from harness.machinery.kinds import KINDS

_labels: dict[int, tuple[weakref.ref, str]] = {}


def remember(obj: Any, label: str) -> None:
    """Record how errors name ``obj`` (e.g. ``extractor 'logprob' (calibration-harness)``)."""
    key = id(obj)
    try:
        ref = weakref.ref(obj, lambda _, key=key: _labels.pop(key, None))
    except TypeError:  # an object without weak references: errors fall back on its name
        return
    _labels[key] = (ref, label)


def label(obj: Any, kind: str) -> str:
    """How errors name a built strategy: the label given to ``remember``, else its ``name``."""
    entry = _labels.get(id(obj))
    if entry is not None and entry[0]() is obj:
        return entry[1]
    name = getattr(obj, "name", None)
    return f"{kind} {name!r}" if isinstance(name, str) else f"{kind} {type(obj).__name__}"


def check_members(kind: str, obj: Any, where: str) -> None:
    """``where`` (the strategy's label) built an object that lacks a member its kind needs."""
    spec = KINDS[kind]
    missing = [m for m in spec.methods if not callable(getattr(obj, m, None))]
    missing += [a for a in spec.attributes if not hasattr(obj, a)]
    if missing:
        what = ", ".join(missing)
        article = "an" if kind[0] in "aeiou" else "a"
        raise PluginContractError(
            f"{where}: its factory built a {type(obj).__name__} without {what} "
            f"({article} {kind} needs {', '.join(spec.members)}; see harness.strategies.{spec.protocol})"
        )


def check_examples(examples: Any, where: str) -> list[Any]:
    """What a task's ``examples()`` returned: a sequence of ``Example`` records with unique ids."""
    from harness.records import Example

    if isinstance(examples, (str, bytes, dict)) or not hasattr(examples, "__iter__"):
        raise PluginContractError(f"{where}: examples() returned {type(examples).__name__}, "
                                  f"not a list of harness.records.Example")
    examples = list(examples)
    seen: set[str] = set()
    for i, example in enumerate(examples):
        if not isinstance(example, Example):
            raise PluginContractError(f"{where}: examples() item {i} is {type(example).__name__}, "
                                      f"not a harness.records.Example")
        if example.id in seen:
            raise PluginContractError(f"{where}: examples() has the id {example.id!r} twice "
                                      f"(ids must be unique)")
        seen.add(example.id)
    return examples


def check_generation(generation: Any, wanted: set[str], where: str) -> None:
    """One item a backend's ``generate()`` yielded: a ``Generation`` for a requested example."""
    from harness.records import Generation

    if not isinstance(generation, Generation):
        raise PluginContractError(f"{where}: generate() yielded {type(generation).__name__}, "
                                  f"not a harness.records.Generation")
    if generation.example_id not in wanted:
        raise PluginContractError(f"{where}: generate() yielded a Generation for {generation.example_id!r}, "
                                  f"which was not requested (or was already given)")


def check_restorable(calibrator: Any, where: str) -> None:
    """A calibrator that is to be loaded from its saved ``fitted()`` state has ``restore(state)``."""
    if not callable(getattr(calibrator, "restore", None)):
        raise PluginContractError(f"{where} cannot be loaded from saved JSON: it has no restore(state) "
                                  "(see CONTRIBUTING, register_calibrators)")


def check_round_trip(where: str, confidence: Any, fitted: Any, restored: Any) -> None:
    """The map restored from saved JSON gives the fitted map's values (to 1e-12) at ``confidence``."""
    import numpy as np

    gap = np.abs(np.asarray(fitted, dtype=np.float64) - np.asarray(restored, dtype=np.float64))
    if gap.size and not float(gap.max()) <= 1e-12:
        at = int(np.argmax(gap))
        raise PluginContractError(
            f"{where}: restore(fitted()) does not give the fitted map (at confidence {confidence[at]:.6g}: "
            f"{float(np.asarray(fitted)[at]):.6g} fitted, {float(np.asarray(restored)[at]):.6g} restored)")


def check_scores(scores: Any, wanted: dict[str, int], where: str) -> None:
    """A backend's ``score`` output: a ``Scores`` for a requested id, one value per continuation."""
    from harness.records import Scores

    if not isinstance(scores, Scores):
        raise PluginContractError(f"{where}: score() yielded {type(scores).__name__}, "
                                  "not a harness.records.Scores")
    if scores.example_id not in wanted:
        raise PluginContractError(f"{where}: score() yielded Scores for {scores.example_id!r}, "
                                  f"which was not requested (or was already given)")
    if scores.error is None and len(scores.logprobs) != wanted[scores.example_id]:
        raise PluginContractError(f"{where}: score() gave {len(scores.logprobs)} values for "
                                  f"{wanted[scores.example_id]} continuations ({scores.example_id!r})")


def checked_metric(fn: Callable[..., Any], where: str) -> Callable[..., float]:
    """``fn`` whose value is checked: a finite real number, returned as a float.

    A ``HarnessError`` (e.g. ``InsufficientDataError``) passes through; any other exception,
    and a value that is not a finite real number, is a ``PluginContractError`` naming ``where``.
    The function's attributes (``batched``, ``extras``) are kept.
    """

    @functools.wraps(fn)
    def metric(*args: Any, **kwargs: Any) -> float:
        try:
            value = fn(*args, **kwargs)
        except HarnessError:
            raise
        except Exception as exc:
            raise PluginContractError(f"{where} raised {type(exc).__name__}: {exc}") from exc
        return finite(value, where)

    metric.checked = True  # type: ignore[attr-defined]
    return metric


def finite(value: Any, where: str) -> float:
    import numbers

    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
    elif getattr(value, "shape", None) == () and getattr(getattr(value, "dtype", None), "kind", "?") in "fiu":
        number = float(value)  # a 0-d NumPy array of a real number
    else:
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise PluginContractError(f"{where} returned {type(value).__name__} {shown}, not a number")
    if not math.isfinite(number):
        raise PluginContractError(f"{where} returned {number}, not a finite number")
    return number
