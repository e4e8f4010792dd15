"""Scoring: every selected metric of one run, or the paired difference of two runs.

Resolves metrics through the registry (so third-party metrics are scored like built-in
ones) and returns JSON-ready dicts:

- ``score``: ``{"n", "metrics": {name: {"value", "ci", "error", ...}}, "bootstrap"}``; a
  metric may add report forms of its value (``fn.extras = {key: form}``, e.g. HLE's
  ``hle_percent``) as extra keys of its entry. ``bootstrap`` (None without resamples) is
  ``{"resamples", "seed", "level", "unit", "groups"}``: ``unit`` is "group" when ``groups``
  were given (a cluster bootstrap; ``groups`` is then how many), else "example" (``groups``
  None).
- ``paired_difference``: ``{name: {"a", "b", "diff" (b - a), "ci", "error"}}`` for two runs
  on the same examples in the same order, with a paired bootstrap interval of ``diff``.

A metric that cannot be computed (e.g. HLE's on fewer than ``beta`` examples) gets
``value: None`` and its ``error`` when it was not asked for by name; asked for by name, its
error propagates. A metric that *fails* (it raises anything other than
``InsufficientDataError``, or returns something that is not a finite real number: NaN, inf,
a string, None) is treated the same way, with an ``error`` that names the metric and its
distribution; ``score`` also lists it under ``failed`` (``{name: error}``) so that the
command line can warn about it, and its bootstrap replicates are skipped. A metric that
fails on bootstrap resamples only (an exception other than the undefined-on-this-resample
ones) keeps its value, with ``ci: None`` and the error. All metrics share one seeded set of
resamples (``harness.statistics.bootstrap.draw``), of examples or, given one group key per example, of
groups.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from harness.errors import HarnessError, InputError, InsufficientDataError, PluginContractError
from harness.machinery import registry
from harness.machinery.config import Config
from harness.statistics.bootstrap import (
    DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
    check_groups,
    draw,
    percentile_interval,
    replicate_all,
)


def as_inputs(confidence: Any, correct: Any) -> tuple[np.ndarray, np.ndarray]:
    """Confidences as float64 and correctness as bool, one-dimensional and of one length."""
    conf = np.asarray(confidence, dtype=np.float64)
    hit = np.asarray(correct)
    if conf.ndim != 1 or conf.shape != hit.shape:
        raise InputError(f"confidence and correct must be 1-D of one length: {conf.shape} and {hit.shape}")
    if hit.dtype != np.bool_:
        if hit.size and not np.all((hit == 0) | (hit == 1)):
            raise InputError("correct must be booleans or 0/1")
        hit = hit.astype(bool)
    return conf, hit


def _unchecked(metric: Any) -> Any:
    """The metric without the registry's check of its value, for the bootstrap, which reads an
    exception or a non-finite value on one resample as "undefined there" (NaN), as before."""
    inner = getattr(metric, "func", None)
    if isinstance(metric, functools.partial) and getattr(inner, "checked", False):
        return functools.partial(inner.__wrapped__, *metric.args, **metric.keywords)
    return metric


def _extras(metric: Any, value: float) -> dict[str, Any]:
    fn = metric
    while hasattr(fn, "func"):  # functools.partial from registry.create
        fn = fn.func
    return {key: form(value) for key, form in getattr(fn, "extras", {}).items()}


def _points(
    names: Sequence[str] | None, config: Config, runs: Sequence[tuple[np.ndarray, np.ndarray]]
) -> tuple[list[str], dict[str, Any], dict[str, list[float]], dict[str, str], dict[str, str]]:
    """The metric names, their functions and values on every run; the errors of metrics not asked
    for, and among them those of metrics that failed (not merely undefined on these data)."""
    explicit = names is not None
    chosen = list(names) if names is not None else registry.names("metric")
    fns = {name: registry.create("metric", name, config) for name in chosen}  # a bad parameter: error
    values: dict[str, list[float]] = {}
    errors: dict[str, str] = {}
    failed: dict[str, str] = {}
    for name in chosen:
        try:
            values[name] = [float(fns[name](conf, hit)) for conf, hit in runs]
        except HarnessError as exc:
            if explicit:
                raise
            errors[name] = str(exc)
            if not isinstance(exc, InsufficientDataError):
                failed[name] = _named(str(exc), name)
                errors[name] = failed[name]
    fns = {name: fn for name, fn in fns.items() if name in values}
    return chosen, fns, values, errors, failed


def _named(error: str, name: str) -> str:
    """An error that names the metric and its distribution (a contract error already does)."""
    label = registry.get("metric", name).label
    return error if error.startswith(label) else f"{label}: {error}"


def _replicate(
    fns: dict[str, Any], runs: Sequence[tuple[np.ndarray, np.ndarray]], draws: Any, failed: dict[str, str],
    *, explicit: bool,
) -> dict[str, np.ndarray]:
    """Every metric's bootstrap replicates. A metric that raises on them is left out (in ``failed``),
    unless the metrics were asked for by name: then it is an error."""
    raw = {name: _unchecked(fn) for name, fn in fns.items()}
    try:
        return replicate_all(raw, runs, draws)
    except Exception:  # find the metric(s) at fault, one at a time; the others keep their intervals
        pass
    reps = {}
    for name, fn in raw.items():
        try:
            reps.update(replicate_all({name: fn}, runs, draws))
        except Exception as exc:
            error = _named(f"on bootstrap resamples: {type(exc).__name__}: {exc}", name)
            if explicit:
                if isinstance(exc, HarnessError):
                    raise
                raise PluginContractError(error) from exc
            failed[name] = error
    return reps


def score(
    confidence: np.ndarray,
    correct: np.ndarray,
    names: Sequence[str] | None = None,
    config: Config | None = None,
    *,
    resamples: int = 0,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
    groups: Sequence[Hashable | None] | None = None,
) -> dict[str, Any]:
    """Every metric of one run, with percentile-bootstrap intervals when ``resamples`` > 0.

    ``groups`` (one key per example; None: its own group) makes the bootstrap resample
    groups instead of examples.
    """
    config = config or Config.load()
    run = as_inputs(confidence, correct)
    check_groups(groups, len(run[0]))  # even when nothing is resampled
    chosen, fns, values, errors, failed = _points(names, config, [run])
    intervals: dict[str, list[float] | None] = dict.fromkeys(fns)
    bootstrap = None
    if resamples > 0 and len(run[0]) and fns:
        draws = draw(len(run[0]), resamples, seed, groups)
        reps = _replicate(fns, [run], draws, failed, explicit=names is not None)
        intervals = {name: percentile_interval(reps[name][0], level) if name in reps else None
                     for name in fns}
        bootstrap = {"resamples": resamples, "seed": seed, "level": level,
                     "unit": draws.unit, "groups": draws.groups}
    metrics: dict[str, Any] = {}
    for name in chosen:
        if name in errors:
            metrics[name] = {"value": None, "ci": None, "error": errors[name]}
        else:
            value = values[name][0]
            extras = _extras(fns[name], value)
            metrics[name] = {"value": value, "ci": intervals[name], "error": failed.get(name), **extras}
    result = {"n": int(len(run[0])), "metrics": metrics, "bootstrap": bootstrap}
    if failed:
        result["failed"] = failed
    return result


def paired_difference(
    conf_a: np.ndarray,
    correct_a: np.ndarray,
    conf_b: np.ndarray,
    correct_b: np.ndarray,
    names: Sequence[str] | None = None,
    config: Config | None = None,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
    groups: Sequence[Hashable | None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Each metric on run a and run b of the same examples, ``b - a``, and its paired interval.

    Both runs are resampled by one draw: by the same examples, or with ``groups`` (one key
    per example, shared by both runs) by the same groups.
    """
    config = config or Config.load()
    run_a, run_b = as_inputs(conf_a, correct_a), as_inputs(conf_b, correct_b)
    if len(run_a[0]) != len(run_b[0]):
        raise InputError(
            f"a paired comparison needs the same examples in the same order: "
            f"{len(run_a[0])} vs {len(run_b[0])}"
        )
    check_groups(groups, len(run_a[0]))
    chosen, fns, values, errors, failed = _points(names, config, [run_a, run_b])
    intervals: dict[str, list[float] | None] = dict.fromkeys(fns)
    if resamples > 0 and len(run_a[0]) and fns:
        reps = _replicate(fns, [run_a, run_b], draw(len(run_a[0]), resamples, seed, groups), failed,
                          explicit=names is not None)
        intervals = {name: percentile_interval(reps[name][1] - reps[name][0], level) if name in reps else None
                     for name in fns}
    out: dict[str, dict[str, Any]] = {}
    for name in chosen:
        if name in errors:
            out[name] = {"a": None, "b": None, "diff": None, "ci": None, "error": errors[name]}
        else:
            a, b = values[name]
            out[name] = {"a": a, "b": b, "diff": b - a, "ci": intervals[name], "error": failed.get(name)}
    return out
