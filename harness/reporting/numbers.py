"""One formatter for the metric values, changes and intervals the harness prints: the terminal
summary, report.md, ``harness compare``, ``harness metrics``, ``harness check``, the sweep
summary and the page all call these, so a figure reads alike everywhere (``DIGITS`` decimals,
a sign on changes, ``[lo, hi]`` after the value, ``n/a`` for no value).

Verdict details, which the statistics write once and every reader shows as stored, keep their
own (more) digits: they are text, not figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: decimals of every value and interval shown (a Brier score of 0.1234 reads 0.123)
DIGITS = 3
NOT_AVAILABLE = "n/a"


def number(value: float | None, digits: int = DIGITS, *, signed: bool = False) -> str:
    """``0.123``; ``+0.123`` when ``signed`` (a change); ``n/a`` for None."""
    if value is None:
        return NOT_AVAILABLE
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def interval(ci: Sequence[float] | None, digits: int = DIGITS, *, signed: bool = False) -> str:
    """`` [0.100, 0.200]`` (with its leading space), or nothing when there is no interval."""
    if not ci:
        return ""
    return f" [{number(ci[0], digits, signed=signed)}, {number(ci[1], digits, signed=signed)}]"


def fmt(entry: Mapping[str, Any] | None, digits: int = DIGITS, *, signed: bool = False) -> str:
    """A stored figure with its interval: ``{"value" (or "diff", "mean"), "ci"}`` ->
    ``0.123 [0.100, 0.150]``; ``n/a`` when there is no value."""
    if not entry:
        return NOT_AVAILABLE
    value = next((entry[k] for k in ("value", "diff", "mean") if entry.get(k) is not None), None)
    if value is None:
        return NOT_AVAILABLE
    return number(value, digits, signed=signed) + interval(entry.get("ci"), digits, signed=signed)
