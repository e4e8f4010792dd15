"""``harness.reporting.numbers``: the one formatter of values, changes and intervals, and that the
reporting modules print figures through it rather than through format specs of their own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.reporting.numbers import DIGITS, fmt, interval, number

ROOT = Path(__file__).resolve().parents[2]


def test_a_value_has_three_decimals_a_change_a_sign_and_none_reads_n_a() -> None:
    assert DIGITS == 3
    assert number(0.12345) == "0.123" and number(1) == "1.000"
    assert number(0.05, signed=True) == "+0.050" and number(-0.05, signed=True) == "-0.050"
    assert number(None) == "n/a" and number(0.123456, 4) == "0.1235"


def test_an_interval_follows_the_value_in_brackets_with_the_same_digits_and_sign() -> None:
    assert interval([0.1, 0.25]) == " [0.100, 0.250]"
    assert interval([-0.1, 0.02], signed=True) == " [-0.100, +0.020]"
    assert interval(None) == "" and interval([]) == ""


@pytest.mark.parametrize(("entry", "signed", "text"), [
    ({"value": 0.5, "ci": [0.4, 0.6]}, False, "0.500 [0.400, 0.600]"),
    ({"diff": -0.02, "ci": [-0.05, 0.01], "a": 0.2, "b": 0.18}, True, "-0.020 [-0.050, +0.010]"),
    ({"mean": 0.2, "ci": None}, False, "0.200"),
    ({"value": None, "error": "one class"}, False, "n/a"),
    (None, False, "n/a"),
    ({}, False, "n/a"),
])
def test_a_stored_figure_reads_value_then_interval(entry, signed, text) -> None:
    assert fmt(entry, signed=signed) == text


def test_no_reporting_module_formats_a_figure_with_a_format_spec_of_its_own() -> None:
    """Every value, change and interval the terminal, report.md, compare, metrics, the sweep
    summary and the page print goes through ``numbers`` (percentages excepted: ``:.1%``)."""
    spec = re.compile(r"\{[^{}]*:[+ ]?\.\d+[fg]\}")
    files = sorted((ROOT / "harness" / "reporting").glob("*.py")) + [ROOT / "harness" / "cli.py"]
    offenders = [f"{path.name}:{n}: {line.strip()}" for path in files if path.name != "numbers.py"
                 for n, line in enumerate(path.read_text().splitlines(), 1) if spec.search(line)]
    assert offenders == []
