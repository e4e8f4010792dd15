"""The ``calibrator`` kind from the core's side: a third-party calibrator registered through
``register_calibrators``, ``harness.statistics.calibration`` checking what a plugin returns, parameters
from registry.toml / --config / -p, and ``harness list --kind calibrator``."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from plugin_helpers import installed

import harness
from harness.errors import (
    InputError,
    InsufficientDataError,
    ParameterError,
    PluginContractError,
    UnknownStrategyError,
)
from harness.machinery import registry
from harness.machinery.config import Config
from harness.statistics.calibration import Fitted, fit_calibrator
from harness.strategies import Calibrator
from harness.testing import run_harness

CONFIDENCE = np.array([0.1, 0.4, 0.4, 0.7, 0.9, 1.0])
CORRECT = np.array([False, False, True, True, True, True])


class Shifted:
    """A third-party calibrator: the confidence moved by ``shift`` (clipped), and its fit count."""

    name = "shifted"

    def __init__(self, shift: float = 0.0, clip: bool = True) -> None:
        self.shift, self.clip, self.seen = shift, clip, 0

    def fit(self, confidence: np.ndarray, correct: np.ndarray) -> None:
        self.seen = len(confidence)
        confidence[:] = 0.0  # the core hands a plugin its own copy

    def __call__(self, confidence: np.ndarray) -> np.ndarray:
        moved = confidence + self.shift
        return np.clip(moved, 0, 1) if self.clip else moved

    def fitted(self) -> dict:
        return {"shift": self.shift, "seen": self.seen}


class Wrong(Shifted):
    """Breaks the contract in the way ``how`` says."""

    def __init__(self, how: str = "shape") -> None:
        super().__init__()
        self.how = how

    def __call__(self, confidence: np.ndarray):
        return {
            "shape": confidence[:-1],
            "nan": np.full_like(confidence, np.nan),
            "text": ["high"] * len(confidence),
        }[self.how]

    def fitted(self):
        broken = {"fitted_list": [1.0], "fitted_nan": {"t": float("nan")}, "fitted_object": {"t": object()}}
        return broken.get(self.how, {"ok": True})


class ThirdParty:
    @harness.hookimpl
    def register_calibrators(self, register):
        register("shifted", Shifted)
        register("wrong", Wrong)


@pytest.fixture
def third_party():
    with installed(ThirdParty(), "third-party", distribution="harness-shift"):
        yield


def test_a_third_party_calibrator_is_registered_through_the_hook_and_fitted_by_name(third_party):
    strategy = registry.get("calibrator", "shifted")
    assert (strategy.kind, strategy.source) == ("calibrator", "harness-shift")
    assert strategy.parameters() == {"shift": 0.0, "clip": True}
    config = Config.load(overrides=["calibrator.shifted.shift=0.25"])
    fitted = fit_calibrator("shifted", config, CONFIDENCE, CORRECT)
    assert isinstance(fitted, Fitted) and isinstance(fitted.calibrator, Calibrator)
    assert fitted.params == {"shift": 0.25, "clip": True}
    assert fitted.fitted == {"shift": 0.25, "seen": 6} and fitted.n == 6
    assert fitted.apply(np.array([0.1, 0.9])) == pytest.approx([0.35, 1.0])
    assert CONFIDENCE[0] == 0.1  # fit() changed its copy only
    assert json.loads(json.dumps(fitted.to_dict())) == {
        "calibrator": "shifted",
        "params": {"shift": 0.25, "clip": True},
        "fitted": {"shift": 0.25, "seen": 6},
        "n": 6,
    }


def test_the_third_party_calibrator_is_gone_after_its_plugin_is():
    with installed(ThirdParty(), "third-party", distribution="harness-shift"):
        assert "shifted" in registry.names("calibrator")
    assert "shifted" not in registry.names("calibrator")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (["calibrator.shifted.shift=0.6", "calibrator.clip=false"], "outside [0, 1] (from 0.7 to 1.6)"),
        (["calibrator.shifted.shift=-0.2", "calibrator.clip=false"], "outside [0, 1] (from -0.1"),
    ],
)
def test_output_outside_0_1_is_refused_with_the_calibrators_name(third_party, config, message):
    fitted = fit_calibrator("shifted", Config.load(overrides=config), CONFIDENCE, CORRECT)
    with pytest.raises(PluginContractError, match="calibrator 'shifted' returned confidences") as info:
        fitted.apply(CONFIDENCE)
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("shape", "returned shape (5,) for confidences of shape (6,)"),
        ("nan", "returned a non-finite confidence"),
        ("text", "returned something that is not an array of numbers"),
    ],
)
def test_output_of_the_wrong_shape_or_not_numbers_is_refused(third_party, how, message):
    config = Config.load(overrides=[f'calibrator.wrong.how="{how}"'])
    fitted = fit_calibrator("wrong", config, CONFIDENCE, CORRECT)
    with pytest.raises(PluginContractError, match="calibrator 'wrong'") as info:
        fitted.apply(CONFIDENCE)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("fitted_list", "fitted() returned list, not a dict"),
        ("fitted_nan", "fitted() is not JSON-ready (Out of range float"),
        ("fitted_object", "fitted() is not JSON-ready (Object of type object"),
    ],
)
def test_fitted_parameters_that_are_not_a_json_dict_are_refused(third_party, how, message):
    with pytest.raises(PluginContractError, match=re.escape(f"calibrator 'wrong': {message}")):
        fit_calibrator("wrong", Config.load(overrides=[f'calibrator.wrong.how="{how}"']), CONFIDENCE, CORRECT)


@pytest.mark.parametrize(
    ("confidence", "correct", "message"),
    [
        ([0.1, 0.2], [True], "1-D of one length: (2,) and (1,)"),
        ([[0.1, 0.2]], [[True, False]], "1-D of one length"),
        ([0.1, 1.2], [True, False], "finite and in [0, 1]"),
        ([0.1, float("nan")], [True, False], "finite and in [0, 1]"),
        (["high", "low"], [True, False], "must be numbers"),
        ([0.1, 0.2], [1, 2], "booleans or 0/1"),
    ],
)
def test_bad_answers_are_an_input_error_before_any_plugin_sees_them(confidence, correct, message):
    with pytest.raises(InputError, match="calibrator 'isotonic'") as info:
        fit_calibrator("isotonic", None, confidence, correct)
    assert message in str(info.value)


def test_correctness_may_be_0_1_and_new_confidences_any_shape():
    fitted = fit_calibrator("isotonic", None, CONFIDENCE, CORRECT.astype(int))
    out = fitted.apply(np.array([[0.1, 0.4], [0.9, 1.0]]))
    assert out.shape == (2, 2) and out.dtype == np.float64
    with pytest.raises(InputError, match="finite and in"):
        fitted.apply([0.5, 1.5])


def test_a_calibrator_that_cannot_fit_passes_its_insufficient_data_error_on():
    with pytest.raises(InsufficientDataError, match="calibrator 'platt' needs both right and wrong"):
        fit_calibrator("platt", None, CONFIDENCE, np.ones(6, dtype=bool))


def test_built_in_calibrators_take_their_parameters_from_registry_toml_config_and_p(tmp_path: Path):
    assert registry.resolve_params("calibrator", "histogram") == {"bins": 10, "monotone": False}
    user = tmp_path / "mine.toml"
    user.write_text("[calibrator.histogram]\nbins = 3\nmonotone = true\n")
    fitted = fit_calibrator("histogram", Config.load(user), CONFIDENCE, CORRECT)
    assert fitted.params == {"bins": 3, "monotone": True}
    assert fitted.fitted["bins"] == 3 and len(fitted.fitted["edges"]) <= 2
    config = Config.load(user, ["calibrator.histogram.bins=2"])
    fitted = fit_calibrator("histogram", config, CONFIDENCE, CORRECT)
    assert fitted.params == {"bins": 2, "monotone": True}


def test_an_unknown_parameter_or_calibrator_is_a_one_line_error():
    with pytest.raises(ParameterError, match="calibrator 'isotonic' has no parameter 'x'; valid: \\(none\\)"):
        fit_calibrator("isotonic", Config.load(overrides=["calibrator.isotonic.x=1"]), CONFIDENCE, CORRECT)
    with pytest.raises(UnknownStrategyError, match="unknown calibrator 'isotonc'.*did you mean 'isotonic'"):
        fit_calibrator("isotonc", None, CONFIDENCE, CORRECT)


def test_every_built_in_calibrator_is_fitted_and_applied_through_the_core():
    for name in registry.names("calibrator"):
        fitted = fit_calibrator(name, None, CONFIDENCE, CORRECT)
        out = fitted.apply(np.linspace(0, 1, 11))
        assert out.min() >= 0 and out.max() <= 1
        json.dumps(fitted.to_dict(), allow_nan=False)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``harness ARGS`` in this process (``harness.testing.run_harness``)."""
    return run_harness(*args, cwd=cwd)


def test_harness_list_shows_the_calibrators_with_their_parameters(tmp_path: Path):
    result = run_cli("list", "--kind", "calibrator", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "calibrator:"
    rows = [line.split()[:2] for line in lines[1:] if line.startswith("  ") and not line.startswith("      ")]
    names = ("histogram", "isotonic", "platt", "temperature")
    assert rows == [[name, "calibration-harness"] for name in names]
    verbose = run_cli("list", "-v", "--kind", "calibrator", cwd=tmp_path)
    assert "      bins: int = 10  [registry.toml]" in verbose.stdout
    assert "      monotone: bool = False  [registry.toml]" in verbose.stdout
