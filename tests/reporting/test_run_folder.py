"""Versions of report.json and the run folder: what ``check``, ``compare`` and ``view`` do with each.

The current version (v2) is read by all three; v1 (before per-example outcome files) by ``compare``
and ``view``, while ``check`` refuses it in one line naming the version; any other version is
refused by all three in one line naming it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import InputError, ParameterError
from harness.reporting.check import check_run
from harness.reporting.compare import compare_runs
from harness.reporting.run_folder import READABLE, SCHEMA, load_report
from harness.reporting.view import run_data

ROW = {"label": "baseline", "extractor": "logprob", "calibrator": None, "key": "baseline-logprob",
       "counts": {"scored": 3}, "metrics": {"accuracy": {"value": 0.5, "ci": [0.2, 0.8]}}}


def write_run(folder: Path, schema: str) -> Path:
    folder.mkdir()
    (folder / "report.json").write_text(json.dumps(
        {"schema": schema, "held_out": True, "rows": [ROW], "comparisons": [{"trainer": "implicit"}],
         "counting": {}, "split": {"train": 3, "test": 3, "evaluated": "test"}}))
    return folder


def test_the_current_version_is_readable_and_v1_is_the_only_older_one():
    assert READABLE == (SCHEMA, "calibration-harness/report/v1") and SCHEMA.endswith("/v2")


def test_a_v1_run_is_compared_and_viewed_but_not_rechecked(tmp_path: Path):
    run = write_run(tmp_path / "old", "calibration-harness/report/v1")
    assert "| baseline | logprob | 3 | 0.500" in compare_runs([run])
    assert run_data(run)["rows"][0]["items"] == []  # no outcome files: the page shows no answers
    message = r"report version v1 \(calibration-harness/report/v1\).*cannot be re-checked"
    with pytest.raises(InputError, match=message):
        check_run(run)


@pytest.mark.parametrize("read", [load_report, lambda run: compare_runs([run]), run_data, check_run])
def test_an_unknown_version_is_refused_in_one_line_naming_it(tmp_path: Path, read):
    run = write_run(tmp_path / "new", "calibration-harness/report/v3")
    with pytest.raises(InputError, match=r"report version v3 .*does not read \(it reads v2, v1\)") as caught:
        read(run)
    assert "\n" not in str(caught.value)


def test_a_file_that_is_no_report_says_so(tmp_path: Path):
    run = write_run(tmp_path / "other", "something-else/v1")
    with pytest.raises(InputError, match="not a calibration-harness report"):
        load_report(run)


def test_compare_shows_the_metrics_asked_for_a_plugin_metric_among_them(tmp_path: Path):
    run = write_run(tmp_path / "run", SCHEMA)
    report = json.loads((run / "report.json").read_text())
    report["rows"][0]["metrics"]["always_half"] = {"value": 0.5, "ci": [0.5, 0.5]}
    (run / "report.json").write_text(json.dumps(report))
    table = compare_runs([run], metrics=["always_half"]).splitlines()
    assert table[0].startswith("| run | model | extractor | n | always_half | not_attempted")
    assert "| 3 | 0.500 [0.500, 0.500] |" in table[2]
    assert json.loads(compare_runs([run], as_json=True, metrics=["always_half"]))[0]["always_half"] == {
        "value": 0.5, "ci": [0.5, 0.5]}
    with pytest.raises(ParameterError, match="--metric nothing_such: in no row of these runs; they have: "
                                             "accuracy, always_half"):
        compare_runs([run], metrics=["nothing_such"])


def test_compare_defaults_to_the_columns_each_run_was_made_with(tmp_path: Path):
    run = write_run(tmp_path / "run", SCHEMA)
    report = json.loads((run / "report.json").read_text())
    (run / "report.json").write_text(json.dumps({**report, "columns": ["accuracy"]}))
    assert compare_runs([run]).splitlines()[0] == (
        "| run | model | extractor | n | accuracy | not_attempted | accuracy_given_attempted | f_score |")
