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
    if name == "CAPABILITIES":
        assert value == harness.strategies.CAPABILITIES
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
