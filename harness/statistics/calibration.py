"""Post-hoc calibrators, the core's side: build one by name, fit it, apply it, check it.

Strategy-agnostic: a calibrator is whatever a plugin registered with
``register_calibrators`` (``harness.strategies.Calibrator``). ``fit_calibrator`` validates
the answers it is fitted on and returns a ``Fitted`` record; ``Fitted.apply`` maps new
confidences and checks the plugin's output (same shape, finite, in [0, 1]), so a plugin's
mistake surfaces here as one ``PluginContractError`` naming it. A calibrator that cannot fit
the data (one class only, too few answers) raises ``InsufficientDataError``, which is passed on.

Serialisation is plain JSON, no pickles: ``Fitted.to_dict()`` holds the calibrator's name, its
parameters and its ``fitted()`` state, and ``restore_calibrator`` builds a fresh calibrator with
those parameters and loads the state with its ``restore(state)``. ``saved_map`` is what
``harness export`` writes: it restores the map from its own JSON once and checks
(``harness.machinery.contract.check_round_trip``) that the loaded map is the fitted one.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import numpy as np

from harness.errors import InputError, PluginContractError
from harness.machinery import registry
from harness.machinery.config import Config


@attrs.frozen
class Fitted:
    """A fitted calibrator: the object, its parameters, what it learned."""

    name: str
    calibrator: Any = attrs.field(repr=False, eq=False)
    #: the effective parameters it was built with
    params: dict[str, Any]
    #: its ``fitted()`` parameters (JSON-ready)
    fitted: dict[str, Any]
    #: the number of answers it was fitted on
    n: int

    def apply(self, confidence: Any) -> np.ndarray:
        """Calibrated confidences (float64, the shape of ``confidence``), checked."""
        conf = _confidences(self.name, confidence)
        try:
            out = np.asarray(self.calibrator(conf.copy()), dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise PluginContractError(
                f"calibrator {self.name!r} returned something that is not an array of numbers ({exc})"
            ) from None
        if out.shape != conf.shape:
            raise PluginContractError(
                f"calibrator {self.name!r} returned shape {out.shape} for confidences of shape {conf.shape}"
            )
        if not np.all(np.isfinite(out)):
            raise PluginContractError(f"calibrator {self.name!r} returned a non-finite confidence")
        if out.size and (out.min() < 0.0 or out.max() > 1.0):
            raise PluginContractError(
                f"calibrator {self.name!r} returned confidences outside [0, 1] "
                f"(from {out.min():.6g} to {out.max():.6g})"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """``{"calibrator", "params", "fitted", "n"}`` for a report."""
        return {
            "calibrator": self.name, "params": dict(self.params), "fitted": dict(self.fitted), "n": self.n
        }


def fit_calibrator(name: str, config: Config | None, confidence: Any, correct: Any) -> Fitted:
    """Build the calibrator ``name`` with its effective parameters and fit it on these answers
    (1-D confidences in [0, 1] and bool or 0/1 correctness, of one length)."""
    conf, hit = _fit_inputs(name, confidence, correct)
    params = registry.resolve_params("calibrator", name, config)
    calibrator = registry.create("calibrator", name, config)
    calibrator.fit(conf.copy(), hit.copy())
    fitted = calibrator.fitted()
    if not isinstance(fitted, dict):
        raise PluginContractError(
            f"calibrator {name!r}: fitted() returned {type(fitted).__name__}, not a dict"
        )
    try:
        json.dumps(fitted, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise PluginContractError(f"calibrator {name!r}: fitted() is not JSON-ready ({exc})") from None
    return Fitted(name=name, calibrator=calibrator, params=params, fitted=fitted, n=len(conf))


def restore_calibrator(saved: dict[str, Any], config: Config | None = None) -> Fitted:
    """The fitted map that ``Fitted.to_dict()`` saved (``calibrator``, ``params``, ``fitted``, ``n``),
    loaded by the calibrator's ``restore``; one line when it cannot be (an unknown calibrator,
    one without ``restore``, a state it refuses)."""
    from harness.machinery.config import Config, Layer

    try:
        name, params, state, n = saved["calibrator"], saved["params"], saved["fitted"], saved["n"]
    except (KeyError, TypeError):
        raise InputError(f"not a saved calibrator (calibrator, params, fitted, n): {str(saved)[:80]}"
                         ) from None
    layer = Layer("the saved calibrator", {"calibrator": {name: params}})
    layered = (config or Config.load()).with_layer(layer)
    calibrator = registry.create("calibrator", name, layered)
    from harness.machinery.contract import check_restorable, label

    check_restorable(calibrator, label(calibrator, "calibrator"))
    calibrator.restore(json.loads(json.dumps(state)))  # a copy: the calibrator owns what it loads
    params = registry.resolve_params("calibrator", name, layered)
    return Fitted(name=name, calibrator=calibrator, params=params, fitted=dict(state), n=int(n))


def saved_map(fitted: Fitted, probe: Any = ()) -> dict[str, Any]:
    """``fitted.to_dict()``, once its JSON restores the very map: the restored map gives the fitted
    one's values on a grid of [0, 1] and on ``probe`` (e.g. the confidences it was fitted on)."""
    from harness.machinery.contract import check_round_trip

    saved = json.loads(json.dumps(fitted.to_dict(), allow_nan=False))
    restored = restore_calibrator(saved)
    grid = np.concatenate([np.linspace(0.0, 1.0, 1001), np.asarray(probe, dtype=np.float64).ravel()])
    check_round_trip(f"calibrator {fitted.name!r}", grid, fitted.apply(grid), restored.apply(grid))
    return saved


def _confidences(name: str, confidence: Any) -> np.ndarray:
    try:
        conf = np.asarray(confidence, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"calibrator {name!r}: confidences must be numbers") from None
    if not np.all(np.isfinite(conf)) or (conf.size and (conf.min() < 0.0 or conf.max() > 1.0)):
        raise InputError(f"calibrator {name!r}: confidences must be finite and in [0, 1]")
    return conf


def _fit_inputs(name: str, confidence: Any, correct: Any) -> tuple[np.ndarray, np.ndarray]:
    """The metrics' input rules (``harness.statistics.scoring.as_inputs``), errors naming the calibrator."""
    from harness.statistics.scoring import as_inputs

    conf = _confidences(name, confidence)
    try:
        return as_inputs(conf, correct)
    except InputError as exc:
        raise InputError(f"calibrator {name!r}: {exc}") from None
