"""The ``harness`` command: its version, ``list``, and exactly one line on stderr with exit
status 2 for every kind of bad input.

The tests call its entry point, ``harness.cli.main``, in this process (a fresh interpreter
costs a second or more each); a test of each command and of each table of bad input runs it
as a user does, in a fresh interpreter, and checks that nothing differs there.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import harness
from harness.machinery import registry
from harness.machinery.kinds import KINDS
from harness.testing import run_harness


def run_cli(*args: str, cwd: Path, fresh_interpreter: bool = False) -> subprocess.CompletedProcess[str]:
    """``harness ARGS`` in this process (``harness.testing.run_harness``), or in a fresh one."""
    return run_harness(*args, cwd=cwd, timeout=120, fresh_interpreter=fresh_interpreter)


@pytest.fixture
def in_process(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """``harness ARGS`` through ``harness.cli.main`` in this process, as a CompletedProcess."""
    from harness.cli import main

    monkeypatch.chdir(tmp_path)

    def invoke(*args: str) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return invoke


def assert_user_error(result: subprocess.CompletedProcess[str], expected: str) -> str:
    """Exit status 2, nothing on stdout, and one line on stderr that contains ``expected``."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("harness: error: ")
    assert expected in lines[0], lines[0]
    return lines[0]


def test_version(tmp_path: Path):
    result = run_cli("--version", cwd=tmp_path, fresh_interpreter=True)
    assert (result.returncode, result.stdout) == (0, f"harness, version {harness.__version__}\n")


def test_help_lists_the_commands(tmp_path: Path):
    result = run_cli("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("run", "list", "metrics", "compare", "check"):
        assert f"  {command} " in result.stdout


def test_list_shows_every_kind_that_has_strategies_with_its_source(tmp_path: Path):
    result = run_cli("list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    headers = [line[:-1] for line in result.stdout.splitlines() if not line.startswith(" ")]
    expected = [kind for kind in KINDS if registry.names(kind)]
    assert headers[: len(expected)] == expected
    rows = [line.split()[:2] for line in result.stdout.splitlines() if line.startswith("  ")]
    assert ["accuracy", "calibration-harness"] in rows
    assert ["mean_confidence", "calibration-harness"] in rows


def test_list_kind_shows_only_that_kind(tmp_path: Path):
    result = run_cli("list", "--kind", "metric", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "metric:"
    assert sorted(line.split()[0] for line in lines[1:]) == registry.names("metric")


def test_list_verbose_shows_effective_parameters_and_where_each_comes_from(tmp_path: Path):
    user = tmp_path / "mine.toml"
    user.write_text("[metric.ece]\nbins = 15\n")
    result = run_cli("list", "-v", "--kind", "metric", "--config", str(user), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[0] == "ece")
    ece = []  # the parameter lines of the ece entry
    for line in lines[start + 1 :]:
        if not line.startswith("      "):
            break
        ece.append(line.strip())
    assert f"bins: int = 15  [{user}]" in ece  # the parameter's type, its value, where the value comes from
    params = [line.strip() for line in result.stdout.splitlines() if line.startswith("      ")]
    assert params
    for line in params:
        source = line.rsplit("[", 1)[1].rstrip("]")
        assert source in ("default", "registry.toml", str(user)), line


# -- bad input: one line on stderr, exit 2 ---------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["list", "--kind", "scorer"], "Invalid value for '--kind': 'scorer' is not one of 'task'"),
        (["nope"], "No such command 'nope'."),
        (["metrics"], "Missing argument 'FILE'."),
        (["metrics", "x.jsonl", "--resamples", "many"], "'many' is not a valid integer"),
        (["run", "--limit", "0"], "Invalid value for '--limit': 0 is not in the range x>=1."),
        (["run", "--test-size", "1.5"], "Invalid value for '--test-size'"),
    ],
)
def test_a_usage_error_is_one_line_pointing_at_help(in_process, args: list[str], expected: str):
    line = assert_user_error(in_process(*args), expected)
    assert line.endswith("--help`)")


@pytest.fixture
def good_file(tmp_path: Path) -> Path:
    path = tmp_path / "good.jsonl"
    path.write_text('{"confidence": 0.8, "correct": true}\n{"confidence": 0.4, "correct": false}\n')
    return path


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("metric.bins", "-p 'metric.bins': expected kind.key=value or kind.name.key=value"),
        ("bins=10", "-p 'bins=10': expected kind.key=value or kind.name.key=value"),
        ("metrics.ece.bins=10", "-p 'metrics.ece.bins=10': unknown kind 'metrics'; kinds: task, backend"),
        ("metric.accuracy.bins=10", "metric 'accuracy' has no parameter 'bins'; valid: (none)"),
        ("metric.acuracy.bins=10", "unknown metric 'acuracy'; known: accuracy"),
        ("task.path=x.csv", "-p task.path: no task is selected in this run"),
    ],
)
def test_a_bad_p_override_is_one_line(in_process, good_file: Path, option: str, expected: str):
    assert_user_error(in_process("metrics", str(good_file), "-p", option), expected)


def test_a_bad_p_override_is_one_line_in_a_real_process_too(tmp_path: Path, good_file: Path):
    assert_user_error(
        run_cli("metrics", str(good_file), "-p", "metric.bins", cwd=tmp_path, fresh_interpreter=True),
        "-p 'metric.bins': expected",
    )


def test_a_p_override_reaches_the_metric(tmp_path: Path, good_file: Path):
    result = run_cli("metrics", str(good_file), "--json", "--metric", "accuracy", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["accuracy"]["value"] == pytest.approx(0.5)


def test_an_unknown_metric_lists_the_known_ones(in_process, good_file: Path):
    line = assert_user_error(in_process("metrics", str(good_file), "--metric", "acuracy"), "unknown metric")
    assert "did you mean 'accuracy'?" in line


@pytest.mark.parametrize("command", ["list", "metrics"])
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "mine.toml: no such file"),
        ("[metric.ece\nbins = 3\n", "mine.toml: not valid TOML ("),
        ("[metrics.ece]\nbins = 3\n", "mine.toml: unknown table [metrics]; expected one of: task, backend"),
        ("metric = 3\n", "mine.toml: [metric] must hold one table per name, like [metric.NAME]"),
    ],
)
def test_a_bad_config_file_is_one_line(
    in_process, tmp_path: Path, good_file: Path, command: str, content, expected: str
):
    config = tmp_path / "mine.toml"
    if content is not None:
        config.write_text(content)
    args = ["list"] if command == "list" else ["metrics", str(good_file)]
    assert_user_error(in_process(*args, "--config", str(config)), expected)


def test_a_kinds_own_table_sets_every_strategy_that_takes_the_key_and_a_typo_is_one_line(
    in_process, tmp_path: Path, good_file: Path
):
    config = tmp_path / "mine.toml"
    config.write_text("[metric]\nbins = 3\n")  # every binned metric, as -p metric.bins=3 would
    answers = tmp_path / "answers.jsonl"  # confidences spread over [0, 1]: the bins matter
    answers.write_text("".join(f'{{"confidence": {0.5 + i / 100}, "correct": {str(i % 4 == 0).lower()}}}\n'
                               for i in range(41)))
    ece = ("metrics", str(answers), "--json", "--no-ci", "--metric", "ece")
    done = in_process(*ece, "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert done.stdout == in_process(*ece, "-p", "metric.bins=3").stdout != in_process(*ece).stdout
    config.write_text("[metric]\nbinz = 5\n")
    line = assert_user_error(in_process("metrics", str(good_file), "--config", str(config)),
                             "mine.toml [metric]: 'binz' is a parameter of no selected metric")
    assert "valid: " in line and "bins" in line


def test_a_bad_config_file_is_one_line_in_a_real_process_too(tmp_path: Path):
    config = tmp_path / "mine.toml"
    config.write_text("[metrics.ece]\nbins = 3\n")
    assert_user_error(run_cli("list", "--config", str(config), cwd=tmp_path, fresh_interpreter=True),
                      "unknown table [metrics]")


def test_a_config_key_a_strategy_does_not_accept_names_the_valid_ones(
    in_process, tmp_path: Path, good_file: Path
):
    config = tmp_path / "mine.toml"
    config.write_text("[metric.accuracy]\nbins = 3\n")
    assert_user_error(
        in_process("metrics", str(good_file), "--config", str(config)),
        f"{config} [metric.accuracy]: metric 'accuracy' has no parameter 'bins'; valid: (none)",
    )


def test_a_parameter_value_of_the_wrong_type_is_one_line_before_any_work(in_process, good_file: Path):
    line = assert_user_error(
        in_process("metrics", str(good_file), "-p", "metric.accuracy_at_coverage.coverage=abc"),
        "metric 'accuracy_at_coverage' (calibration-harness): parameter coverage = 'abc' (set by -p) "
        "must be a number (coverage: float)",
    )
    assert "Traceback" not in line


def test_run_with_an_unknown_task_lists_the_known_tasks(tmp_path: Path):
    line = assert_user_error(run_cli("run", "--task", "nope", cwd=tmp_path, fresh_interpreter=True),
                             "unknown task 'nope'; known: ")
    for name in registry.names("task"):
        assert name in line


def test_run_with_a_malformed_override_fails_before_any_work(tmp_path: Path):
    assert_user_error(run_cli("run", "-p", "lam=1", cwd=tmp_path), "-p 'lam=1': expected kind.key=value")
    assert list(tmp_path.iterdir()) == []  # no run folder was started


# -- harness metrics on bad files: FILE:LINE and why -----------------------------------------

GOOD = '{"confidence": 0.5, "correct": true}\n'


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "answers.jsonl: empty file (no JSON lines)"),
        (b"\n  \n", "answers.jsonl: empty file (no JSON lines)"),
        (GOOD + "confidence=0.5, correct=true\n", "answers.jsonl:2: not valid JSON ("),
        (GOOD + '{"confidence": 0.5, "correct": tr', "answers.jsonl:2: not valid JSON ("),
        (GOOD + "[0.5, true]\n", "answers.jsonl:2: expected a JSON object, got list"),
        (GOOD + '"0.5"\n', "answers.jsonl:2: expected a JSON object, got str"),
        (GOOD + '{"correct": true}\n', "answers.jsonl:2: missing field 'confidence'"),
        (GOOD + '{"confidence": 0.5}\n', "answers.jsonl:2: missing field 'correct'"),
        (
            GOOD + '{"confidence": "0.5", "correct": true}\n',
            "answers.jsonl:2: 'confidence' must be a number in [0, 1], got str '0.5'",
        ),
        (
            GOOD + '{"confidence": null, "correct": true}\n',
            "answers.jsonl:2: 'confidence' must be a number in [0, 1], got NoneType None",
        ),
        (
            GOOD + '{"confidence": true, "correct": true}\n',
            "answers.jsonl:2: 'confidence' must be a number in [0, 1], got bool True",
        ),
        (
            GOOD + '{"confidence": NaN, "correct": true}\n',
            "answers.jsonl:2: 'confidence' is nan, not a number",
        ),
        (GOOD + '{"confidence": Infinity, "correct": true}\n', "answers.jsonl:2: 'confidence' is inf"),
        (
            GOOD + '{"confidence": 1.5, "correct": true}\n',
            "answers.jsonl:2: 'confidence' 1.5 is outside [0, 1]",
        ),
        (
            GOOD + '{"confidence": 85, "correct": true}\n',
            "answers.jsonl:2: 'confidence' 85.0 is outside [0, 1] (percentages? pass --percent)",
        ),
        (GOOD + '{"confidence": -0.01, "correct": true}\n', "answers.jsonl:2: 'confidence' -0.01 is outside"),
        (
            GOOD + '{"confidence": 1' + "0" * 400 + ', "correct": true}\n',
            "answers.jsonl:2: 'confidence' is a huge integer, outside [0, 1]",
        ),
        (
            GOOD + '{"confidence": 0.5, "correct": "yes"}\n',
            "answers.jsonl:2: 'correct' must be true/false or 0/1, got 'yes'",
        ),
        (
            GOOD + '{"confidence": 0.5, "correct": 2}\n',
            "answers.jsonl:2: 'correct' must be true/false or 0/1, got 2",
        ),
        (GOOD + '{"confidence": 0.5, "correct": null}\n', "'correct' must be true/false or 0/1, got None"),
        (GOOD + b'{"confidence": 0.5, "correct": "\xff"}\n'.decode("latin-1"), "answers.jsonl:2:"),
    ],
)
def test_a_bad_metrics_file_names_the_line_and_why(in_process, tmp_path: Path, content, expected: str):
    path = tmp_path / "answers.jsonl"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    assert_user_error(in_process("metrics", str(path)), expected)


def test_a_bad_metrics_file_is_one_line_in_a_real_process_too(tmp_path: Path):
    path = tmp_path / "answers.jsonl"
    path.write_text(GOOD + '{"confidence": NaN, "correct": true}\n')
    assert_user_error(run_cli("metrics", str(path), cwd=tmp_path, fresh_interpreter=True),
                      "answers.jsonl:2: 'confidence' is nan")


def test_metrics_on_a_missing_file_or_a_directory(in_process, tmp_path: Path):
    assert_user_error(in_process("metrics", "nope.jsonl"), "nope.jsonl: no such file")
    assert_user_error(in_process("metrics", str(tmp_path)), "is a directory, not a JSON Lines file")


def test_metrics_accepts_zero_and_one_for_correct_and_percentages_when_told(tmp_path: Path):
    path = tmp_path / "answers.jsonl"
    path.write_text('{"confidence": 80, "correct": 1}\n{"confidence": 40, "correct": 0}\n')
    result = run_cli(
        "metrics",
        str(path),
        "--json",
        "--percent",
        "--metric",
        "mean_confidence",
        "--metric",
        "accuracy",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["mean_confidence"]["value"] == pytest.approx(0.6)
    assert metrics["accuracy"]["value"] == pytest.approx(0.5)
