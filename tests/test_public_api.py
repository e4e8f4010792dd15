"""The public API for plugin authors: importable from ``harness``, loaded only when used."""

from __future__ import annotations

import subprocess
import sys

import pytest

import harness


@pytest.mark.parametrize("name", [n for n in harness.__all__ if n != "__version__"])
def test_every_public_name_resolves_to_the_object_of_its_module(name: str):
    value = getattr(harness, name)
    assert value is not None
    assert name in dir(harness)
    if name in ("CAPABILITIES", "GRADES"):  # constants, not classes
        from harness.records import GRADES
        from harness.strategies import CAPABILITIES

        assert value is {"CAPABILITIES": CAPABILITIES, "GRADES": GRADES}[name]
    elif name != "hookimpl":
        assert value.__name__ == name  # a class or function, not a module


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Exampel'"):
        harness.Exampel  # noqa: B018


def test_importing_harness_loads_none_of_the_lazy_modules_nor_numpy():
    code = ("import sys, harness\n"
            "print(sorted(m for m in ('numpy', 'harness.records', 'harness.strategies', 'harness.errors', "
            "'harness.statistics.bootstrap') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_records_a_plugin_imports_from_harness_are_the_core_s_own():
    from harness.records import Prediction

    assert harness.Prediction is Prediction
    assert issubclass(harness.InsufficientDataError, harness.HarnessError)


@pytest.mark.parametrize(("old", "new"), [("harness.calibration", "harness.statistics.calibration"),
                                          ("harness.tracking", "harness.running.tracking"),
                                          ("harness.registry", "harness.machinery.registry")])
def test_an_old_module_path_is_the_moved_module_itself(old: str, new: str):
    import importlib

    assert importlib.import_module(old) is importlib.import_module(new)


def test_the_old_paths_keep_working_in_a_fresh_interpreter():
    code = ("from harness import registry\n"
            "from harness.calibration import fit_calibrator\n"
            "from harness.tracking import check_trackers\n"
            "from harness.judging import TrainingJudge\n"
            "from harness.errors import InputError\n"
            "from harness.records import Prediction\n"
            "from harness.strategies import Extractor\n"
            "import harness\n"
            "assert registry.__name__ == 'harness.machinery.registry'\n"
            "assert harness.fit_calibrator is fit_calibrator and harness.check_trackers is check_trackers\n"
            "assert harness.TrainingJudge is TrainingJudge and harness.Extractor is Extractor\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
