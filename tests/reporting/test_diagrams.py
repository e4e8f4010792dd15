"""Reliability diagrams: a valid PNG of sensible size, one panel per run, written atomically."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from harness.errors import InputError
from harness.reporting.diagrams import bin_table, reliability_diagram

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which must come first."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">II", data[16:24])


def runs(count: int, n: int = 400) -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    confidence = rng.beta(6, 2, n)
    out = [("baseline", confidence, rng.random(n) < confidence * 0.6)]
    for i in range(1, count):
        lowered = np.clip(confidence * 0.6, 0, 1)
        out.append((f"trainer {i}", lowered, rng.random(n) < lowered))
    return out


def test_the_diagram_is_a_valid_png_of_sensible_size(tmp_path: Path) -> None:
    path = reliability_diagram(runs(1), tmp_path / "report" / "reliability.png", title="baseline")
    data = path.read_bytes()
    width, height = png_size(data)
    assert 300 <= width <= 1200 and 400 <= height <= 1200
    assert 10_000 < len(data) < 1_000_000
    assert data.endswith(b"IEND\xaeB`\x82")
    assert [p.name for p in path.parent.iterdir()] == ["reliability.png"]  # no temporary left


def test_runs_are_drawn_side_by_side(tmp_path: Path) -> None:
    one = png_size(reliability_diagram(runs(1), tmp_path / "one.png").read_bytes())
    three = png_size(reliability_diagram(runs(3), tmp_path / "three.png", bins=15).read_bytes())
    assert three[1] == one[1]
    assert three[0] == pytest.approx(3 * one[0], rel=0.02)


def test_bin_table_counts_confidence_and_accuracy_per_bin() -> None:
    table = bin_table(np.array([0.05, 0.15, 0.15, 1.0]), np.array([True, True, False, True]), bins=10)
    assert table["count"].tolist() == [1, 2, 0, 0, 0, 0, 0, 0, 0, 1]
    assert table["accuracy"][1] == 0.5 and np.isnan(table["accuracy"][2])
    assert table["confidence"][9] == 1.0


def test_nothing_to_draw_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="at least one run"):
        reliability_diagram([], tmp_path / "x.png")
    with pytest.raises(InputError, match="no answers"):
        reliability_diagram([("empty", np.array([]), np.array([], dtype=bool))], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_both_panels_carry_axis_titles_and_each_bin_its_count() -> None:
    from harness.reporting.diagrams import reliability_figure

    name, confidence, correct = runs(1)[0]
    figure = reliability_figure([(name, confidence, correct)])
    top, bottom = figure.axes
    assert top.get_ylabel().startswith("accuracy") and bottom.get_ylabel() == "answers"
    assert bottom.get_xlabel().startswith("confidence")
    written = [int(t.get_text()) for t in bottom.texts]
    assert written == bin_table(confidence, correct)["count"].tolist()
    assert sum(written) == len(confidence)


def test_the_legend_gives_the_metrics_of_the_report_legend_setting_a_plugin_metric_among_them() -> None:
    import harness
    from harness.machinery.config import Config
    from harness.reporting.diagrams import reliability_figure
    from harness.testing import registered

    class Half:
        @harness.hookimpl
        def register_metrics(self, register):  # type: ignore[no-untyped-def]
            register("always_half", lambda confidence, correct: 0.5)

    name, confidence, correct = runs(1)[0]
    shipped = reliability_figure([(name, confidence, correct)]).axes[0].get_legend().get_title().get_text()
    assert shipped.startswith("ece 0.") and ", rms_calib_err 0." in shipped and ", accuracy 0." in shipped
    with registered(Half(), "half"):
        config = Config.load(overrides=['report.legend=["always_half", "brier"]'])
        figure = reliability_figure([(name, confidence, correct)], config=config)
    title = figure.axes[0].get_legend().get_title().get_text()
    assert title.startswith("always_half 0.500, brier 0.") and title.endswith(f"(n={len(confidence)})")
