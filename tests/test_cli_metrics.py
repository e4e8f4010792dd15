"""`harness metrics FILE`: every metric with intervals, and one clear line (exit 2) for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import harness
from harness.cli import main
from harness.plugins.metrics import BUILTIN_METRICS
from harness.testing import registered, run_harness


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def good_file(tmp_path: Path, n: int = 300) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(n):
        confidence = int(rng.integers(0, 101)) / 100
        rows.append(json.dumps({"confidence": confidence, "correct": bool(rng.random() < confidence * 0.8)}))
    return write_lines(tmp_path / "answers.jsonl", rows)


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_json_prints_every_metric_with_its_interval(tmp_path: Path) -> None:
    path = good_file(tmp_path)
    done = run_harness("metrics", str(path), "--json", "--resamples", "200")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == set(BUILTIN_METRICS)  # the keys are the metric names
    for name, entry in result.items():
        assert entry["error"] is None, name
        assert entry["ci"][0] <= entry["ci"][1], name
        assert entry["n"] == 300 and entry["resamples"] == 200 and entry["seed"] == 0, name
    assert result["hle_calib_err"]["hle_percent"] == 100 * round(result["hle_calib_err"]["value"], 2)


def test_text_output_and_chosen_metrics(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = good_file(tmp_path)
    code, out, _ = run_cli(["metrics", str(path), "--metric", "hle_calib_err", "--metric", "ece",
                            "--resamples", "100"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"{path}: n=300, 95% CI from 100 bootstrap resamples (seed 0)"
    assert lines[1].split()[0] == "hle_calib_err" and "hle_percent" in lines[1] and "[" in lines[1]
    assert lines[2].split()[0] == "ece" and len(lines) == 3
    code, out, _ = run_cli(["metrics", str(path), "--json", "--no-ci", "--metric", "brier"], capsys)
    assert json.loads(out)["brier"]["ci"] is None


def test_percentages_are_read_only_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_lines(tmp_path / "pct.jsonl", ['{"confidence": 90, "correct": true}',
                                                '{"confidence": 20, "correct": 0}'])
    code, _, err = run_cli(["metrics", str(path)], capsys)
    assert code == 2
    assert "pct.jsonl:1: 'confidence' 90.0 is outside [0, 1] (percentages? pass --percent)" in err
    args = ["metrics", str(path), "--percent", "--json", "--no-ci", "--metric", "brier"]
    code, out, _ = run_cli(args, capsys)
    assert code == 0 and json.loads(out)["brier"]["value"] == pytest.approx((0.01 + 0.04) / 2)


BAD_INPUTS = {
    "empty file": ([], ": empty file"),
    "blank lines only": (["", "  "], ": empty file"),
    "non-JSON line": (['{"confidence": 0.5, "correct": true}', "{confidence: 0.5"], ":2: not valid JSON"),
    "not an object": (["[0.5, true]"], ":1: expected a JSON object"),
    "missing confidence": (['{"correct": true}'], ":1: missing field 'confidence'"),
    "missing correct": (['{"confidence": 0.4}'], ":1: missing field 'correct'"),
    "string confidence": (['{"confidence": "0.9", "correct": true}'], ":1: 'confidence' must be a number"),
    "boolean confidence": (['{"confidence": true, "correct": true}'], ":1: 'confidence' must be a number"),
    "null confidence": (['{"confidence": null, "correct": true}'], ":1: 'confidence' must be a number"),
    "NaN confidence": (['{"confidence": 0.5, "correct": 1}', '{"confidence": NaN, "correct": true}'],
                       ":2: 'confidence' is nan"),
    "infinite confidence": (['{"confidence": Infinity, "correct": true}'], ":1: 'confidence' is inf"),
    "negative confidence": (['{"confidence": -0.1, "correct": true}'],
                            ":1: 'confidence' -0.1 is outside [0, 1]"),
    "confidence above one": (['{"confidence": 1.5, "correct": true}'],
                             ":1: 'confidence' 1.5 is outside [0, 1]"),
    "string correct": (['{"confidence": 0.5, "correct": "yes"}'], ":1: 'correct' must be true/false or 0/1"),
    "correct of two": (['{"confidence": 0.5, "correct": 2}'], ":1: 'correct' must be true/false or 0/1"),
    "null correct": (['{"confidence": 0.5, "correct": null}'], ":1: 'correct' must be true/false or 0/1"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_naming_file_and_line_and_exit_2(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines, message = BAD_INPUTS[case]
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    code, out, err = run_cli(["metrics", str(path)], capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("harness: error: ")
    assert f"{path}{message}" in err, err


def test_a_missing_file_and_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["metrics", str(tmp_path / "nope.jsonl")], capsys)
    assert code == 2 and err == f"harness: error: {tmp_path / 'nope.jsonl'}: no such file\n"
    code, _, err = run_cli(["metrics", str(tmp_path)], capsys)
    assert code == 2 and err == f"harness: error: {tmp_path}: is a directory, not a JSON Lines file\n"


def test_hle_asked_for_on_too_few_answers_is_exit_2_not_a_traceback(tmp_path: Path) -> None:
    path = good_file(tmp_path, n=40)
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "metrics", str(path), "--metric", "hle_calib_err"],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "hle_calib_err needs at least beta=100 examples, got 40" in done.stderr
    # Not asked for by name, it is reported as unavailable and the rest are scored.
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "metrics", str(path), "--json", "--resamples", "50"],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0
    metrics = json.loads(done.stdout)
    assert metrics["hle_calib_err"]["value"] is None and metrics["rms_calib_err"]["value"] > 0


# -- the documented shape of --json (docs/metrics.md, "The shape of `harness metrics --json`") ----

def documented_keys() -> list[str]:
    """The keys the table of docs/metrics.md lists (its first column, backquoted)."""
    import re

    text = (Path(__file__).resolve().parents[1] / "docs" / "metrics.md").read_text()
    section = text.split("### The shape of `harness metrics --json`")[1].split("```json")[0]
    return [key for line in section.splitlines() if line.startswith("| `")
            for key in re.findall(r"`([a-z_]+)`", line.split("|")[1])]


def check_entry(entry: dict, *, bootstrap: bool, extras: set[str] = frozenset()) -> None:
    always, with_bootstrap = {"value", "ci", "error", "n"}, {"resamples", "seed"}
    assert set(entry) == always | (with_bootstrap if bootstrap else set()) | extras
    assert entry["value"] is None or isinstance(entry["value"], (int, float))
    assert entry["ci"] is None or (len(entry["ci"]) == 2 and entry["ci"][0] <= entry["ci"][1])
    assert entry["error"] is None or isinstance(entry["error"], str)
    missing = entry["value"] is None or (bootstrap and entry["ci"] is None)
    assert missing == (entry["error"] is not None)  # a missing figure always says why
    assert isinstance(entry["n"], int)


class BrokenMetric:
    @harness.hookimpl
    def register_metrics(self, register):  # type: ignore[no-untyped-def]
        register("always_nan", lambda confidence, correct: float("nan"))


def test_the_json_shape_is_the_documented_one(tmp_path: Path) -> None:
    assert documented_keys() == ["value", "ci", "error", "n", "resamples", "seed"]
    path = good_file(tmp_path, n=120)
    with registered(BrokenMetric(), "broken-metric"):
        every = json.loads(main_json(path, "--resamples", "30"))
    assert list(every) == sorted(every) and "always_nan" in every  # every metric, a plugin's too
    for name, entry in every.items():
        check_entry(entry, bootstrap=True, extras={"hle_percent"} if name == "hle_calib_err" else set())
    assert every["always_nan"]["value"] is None and "nan" in every["always_nan"]["error"]
    chosen = json.loads(main_json(path, "--no-ci", "--metric", "ece", "--metric", "accuracy"))
    assert list(chosen) == ["ece", "accuracy"]  # the order asked for
    for entry in chosen.values():
        check_entry(entry, bootstrap=False)
        assert entry["ci"] is None and entry["error"] is None and entry["n"] == 120


def main_json(path: Path, *options: str) -> str:
    """``harness metrics PATH --json OPTIONS`` in this process (the registry as it is now)."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        try:
            main(["metrics", str(path), "--json", *options])
        except SystemExit as exc:
            assert not exc.code, exc.code
    return out.getvalue()
