"""Reliability diagrams: one panel per run (baseline, then each trainer), side by side.

Top: accuracy per equal-width confidence bin against the diagonal of perfect calibration,
the gap to the diagonal shaded; the legend gives the metrics of the ``[report] legend`` setting
(registry.toml: ECE, RMS calibration error and accuracy).
Bottom: how many answers fall in each bin, the count written on each bar; both panels carry
axis titles. Rendered with matplotlib's Agg canvas (no
display, no global pyplot state) into bytes, then written atomically as a PNG.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.artifacts import write_bytes_atomic
from harness.errors import HarnessError, InputError
from harness.machinery import registry
from harness.machinery.config import Config
from harness.reporting.numbers import number
from harness.statistics.scoring import as_inputs


def bin_table(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> dict[str, np.ndarray]:
    """Per equal-width bin ([i/bins, (i+1)/bins), the last closed): count, mean confidence, accuracy."""
    which = np.minimum(np.floor(confidence * bins).astype(np.int64), bins - 1)
    count = np.bincount(which, minlength=bins)
    conf_sum = np.bincount(which, weights=confidence, minlength=bins)
    hit_sum = np.bincount(which, weights=correct.astype(np.float64), minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "count": count,
            "confidence": np.where(count > 0, conf_sum / np.maximum(count, 1), np.nan),
            "accuracy": np.where(count > 0, hit_sum / np.maximum(count, 1), np.nan),
        }


def _legend_text(confidence: np.ndarray, correct: np.ndarray, config: Config) -> str:
    from harness.reporting.run_folder import report_metrics

    parts = []
    for name in report_metrics(config, "legend"):
        try:
            value = float(registry.create("metric", name, config)(confidence, correct))
        except HarnessError:  # undefined on these answers (too few, one class)
            continue
        parts.append(f"{name} {number(value)}")
    return ", ".join(parts) + f" (n={len(confidence)})"


def _panel(top: Any, bottom: Any, name: str, confidence: np.ndarray, correct: np.ndarray,
           bins: int, config: Config) -> None:
    table = bin_table(confidence, correct, bins)
    edges = np.linspace(0.0, 1.0, bins + 1)
    centers, width = (edges[:-1] + edges[1:]) / 2, 1.0 / bins
    filled = table["count"] > 0
    top.plot([0, 1], [0, 1], linestyle="--", color="0.45", linewidth=1, label="perfect calibration")
    top.bar(centers[filled], table["accuracy"][filled], width=width * 0.92, color="#4C72B0",
            edgecolor="#2F4B7C", label="accuracy per bin")
    gap_low = np.minimum(table["accuracy"], table["confidence"])[filled]
    gap = np.abs(table["accuracy"] - table["confidence"])[filled]
    top.bar(centers[filled], gap, bottom=gap_low, width=width * 0.92, color="#DD8452", alpha=0.45,
            hatch="//", edgecolor="#DD8452", linewidth=0, label="gap to mean confidence")
    top.scatter(table["confidence"][filled], table["accuracy"][filled], color="black", s=12, zorder=3,
                label="(mean confidence, accuracy)")
    top.set(xlim=(0, 1), ylim=(0, 1), title=name, ylabel="accuracy in the bin (share correct)")
    top.set_aspect("equal")
    legend = top.legend(loc="upper left", fontsize=7.5, frameon=True,
                        title=_legend_text(confidence, correct, config), title_fontsize=8)
    legend.get_title().set_fontweight("bold")
    top.tick_params(labelbottom=False)
    bars = bottom.bar(centers, table["count"], width=width * 0.92, color="0.55")
    bottom.bar_label(bars, labels=[str(int(n)) for n in table["count"]], fontsize=7, padding=1)
    bottom.set(xlim=(0, 1), ylim=(0, max(1, int(table["count"].max())) * 1.25),
               xlabel=f"confidence (equal-width bins of {1 / bins:g})", ylabel="answers")


def reliability_figure(
    runs: Sequence[tuple[str, np.ndarray, np.ndarray]],
    *,
    bins: int = 10,
    title: str | None = None,
    config: Config | None = None,
) -> Any:
    """The matplotlib ``Figure`` of ``runs`` = [(name, confidence, correct), ...], on an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not runs:
        raise InputError("a reliability diagram needs at least one run")
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise InputError(f"bins must be an integer >= 1, got {bins!r}")
    config = config or Config.load()
    figure = Figure(figsize=(4.6 * len(runs), 6.4), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(2, len(runs), height_ratios=(3.2, 1))
    for column, (name, confidence, correct) in enumerate(runs):
        conf, hit = as_inputs(confidence, correct)
        if conf.size == 0:
            raise InputError(f"run {name!r} has no answers to draw")
        top = figure.add_subplot(grid[0, column])
        bottom = figure.add_subplot(grid[1, column], sharex=top)
        _panel(top, bottom, name, conf, hit, bins, config)
    if title:
        figure.suptitle(title)
    return figure


def render_reliability(
    runs: Sequence[tuple[str, np.ndarray, np.ndarray]],
    *,
    bins: int = 10,
    title: str | None = None,
    config: Config | None = None,
) -> bytes:
    """The PNG bytes of the diagram of ``runs`` = [(name, confidence, correct), ...]."""
    figure = reliability_figure(runs, bins=bins, title=title, config=config)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def reliability_diagram(
    runs: Sequence[tuple[str, np.ndarray, np.ndarray]],
    path: str | Path,
    *,
    bins: int = 10,
    title: str | None = None,
    config: Config | None = None,
) -> Path:
    """Write the reliability diagram of ``runs`` side by side to the PNG ``path``; return it."""
    data = render_reliability(runs, bins=bins, title=title, config=config)
    path = Path(path)
    write_bytes_atomic(path, data)
    return path
