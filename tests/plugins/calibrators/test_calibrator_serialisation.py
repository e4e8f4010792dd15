"""A fitted calibrator saves as plain JSON and loads back as the very same map: the four built-ins'
``fitted()`` / ``restore(state)`` round trip, ``harness.statistics.calibration.saved_map`` and
``restore_calibrator``, and the contract's refusals (no ``restore``, a ``restore`` that loads another map,
a saved state that is not one)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from calibrator_helpers import labelled_confidences
from hypothesis import given, settings
from hypothesis import strategies as st
from plugin_helpers import installed

from harness import hookimpl
from harness.errors import InputError, PluginContractError
from harness.plugins.calibrators import BUILTIN_CALIBRATORS
from harness.statistics.calibration import fit_calibrator, restore_calibrator, saved_map

GRID = np.concatenate([np.linspace(0, 1, 10001), [1e-300, 1e-7, 1 - 1e-7, 1 - 1e-16]])


def through_json(state: dict) -> dict:
    return json.loads(json.dumps(state, allow_nan=False))


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(BUILTIN_CALIBRATORS)),
    data=labelled_confidences(max_size=120),
    bins=st.integers(1, 15),
    monotone=st.booleans(),
)
def test_every_builtin_loaded_from_its_json_is_the_fitted_map_everywhere(name, data, bins, monotone):
    params = {"bins": bins, "monotone": monotone} if name == "histogram" else {}
    confidence, correct = np.array([c for c, _ in data]), np.array([k for _, k in data])
    fitted = BUILTIN_CALIBRATORS[name](**params)
    fitted.fit(confidence, correct)
    loaded = BUILTIN_CALIBRATORS[name](**params)
    loaded.restore(through_json(fitted.fitted()))
    points = np.concatenate([GRID, confidence])
    assert np.array_equal(loaded(points), fitted(points))
    assert loaded.fitted() == fitted.fitted()


@pytest.mark.parametrize("name", sorted(BUILTIN_CALIBRATORS))
def test_saved_map_is_json_that_restores_the_map_with_its_parameters(name):
    rng = np.random.default_rng(3)
    confidence = rng.beta(5, 2, 400)
    correct = rng.random(400) < confidence * 0.7
    fitted = fit_calibrator(name, None, confidence, correct)
    saved = saved_map(fitted, confidence)
    assert saved == through_json(saved) and saved["calibrator"] == name and saved["n"] == 400
    restored = restore_calibrator(through_json(saved))
    assert restored.params == fitted.params
    assert np.array_equal(restored.apply(GRID), fitted.apply(GRID))


@pytest.mark.parametrize("name, state, why", [
    ("temperature", {"temperature": None}, "temperature"),
    ("temperature", {"temperature": -1.0}, "not > 0"),
    ("platt", {"slope": -0.5, "intercept": 0.0}, "negative"),
    ("platt", {"slope": 1.0}, "intercept"),
    ("isotonic", {"x": [0.2, 0.1], "y": [0.0, 1.0]}, "increasing"),
    ("isotonic", {"x": [0.1, 0.2], "y": [0.0]}, "'y'"),
    ("isotonic", {"x": [], "y": []}, "increasing"),
    ("histogram", {"edges": [0.5], "values": [0.1, 0.2, 0.3], "counts": [1, 1], "accuracy": [0, 1]},
     "values"),
    ("histogram", {"edges": [0.5], "values": [0.1, 1.5], "counts": [1, 1], "accuracy": [0, 1]},
     "outside"),
])
def test_a_saved_state_that_is_not_one_is_one_line_naming_the_calibrator(name, state, why):
    with pytest.raises(InputError, match=why) as caught:
        restore_calibrator({"calibrator": name, "params": {}, "fitted": state, "n": 2})
    assert name in str(caught.value) and "\n" not in str(caught.value)


def test_a_record_that_is_not_a_saved_calibrator_is_one_line():
    with pytest.raises(InputError, match="not a saved calibrator"):
        restore_calibrator({"calibrator": "isotonic"})


class Forgetful:
    """Fits the accuracy but cannot be loaded (no ``restore``)."""

    name = "forgetful"

    def fit(self, confidence, correct):  # type: ignore[no-untyped-def]
        self.rate = float(np.mean(correct))

    def __call__(self, confidence):  # type: ignore[no-untyped-def]
        return np.full(np.shape(confidence), self.rate)

    def fitted(self):  # type: ignore[no-untyped-def]
        return {"rate": self.rate}


class Careless(Forgetful):
    """Loads a state, but not the one it saved: the map it gives is another."""

    name = "careless"

    def restore(self, state):  # type: ignore[no-untyped-def]
        self.rate = state["rate"] / 2


class Plugin:
    @hookimpl
    def register_calibrators(self, register):  # type: ignore[no-untyped-def]
        register("forgetful", Forgetful)
        register("careless", Careless)


@pytest.mark.parametrize("name, why", [("forgetful", "has no restore"),
                                       ("careless", "does not give the fitted map")])
def test_a_calibrator_that_cannot_be_saved_faithfully_is_a_contract_error_naming_it(name, why):
    with installed(Plugin(), name="unsaveable"):
        fitted = fit_calibrator(name, None, np.array([0.2, 0.8, 0.6]), np.array([False, True, True]))
        with pytest.raises(PluginContractError, match=why) as caught:
            saved_map(fitted)
    assert name in str(caught.value) and "\n" not in str(caught.value)
