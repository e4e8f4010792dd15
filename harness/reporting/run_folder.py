"""Reading a finished run folder: its report.json (``load_report``) and split.json
(``split_sets``, ``held_out_split``), and which metric columns it shows (``report_columns``:
the ``[report] columns`` setting, recorded in report.json; ``columns_of``).

``SCHEMA`` is the version of report.json and of the run folder's layout (outcomes/, split.json,
manifest.json); ``harness check``, ``compare`` and ``view`` read a folder through this module.
What each version can do (``READABLE``): v2 everything; v1 (before per-example outcome files)
``compare`` and ``view``, not ``check``. Any other version is refused in one line naming it.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from harness.errors import InputError, ParameterError

SCHEMA = "calibration-harness/report/v2"
#: the versions this harness reads: the current one and v1, which has no per-example outcome files
READABLE = (SCHEMA, "calibration-harness/report/v1")
SIMPLEQA_COLUMNS = ("not_attempted", "accuracy_given_attempted", "f_score")  # of SimpleQA's metrics


#: the [report] settings that name metrics: the terminal summary's and compare's columns, and
#: the metrics each reliability diagram's legend gives
METRIC_LISTS = ("columns", "legend")


def report_metrics(config: Any, key: str) -> tuple[str, ...]:
    """A list of metric names of the ``[report]`` settings (``METRIC_LISTS``; registry.toml ships
    them, ``--config`` or ``-p 'report.columns=["accuracy", "my_metric"]'`` change them), else a
    ``ParameterError``; whether each names a registered metric is the caller's check."""
    names = config.section("report").get(key)
    if not isinstance(names, list) or not names or not all(isinstance(c, str) and c for c in names):
        raise ParameterError(f"report {key} must be a non-empty list of metric names, got {names!r}")
    return tuple(dict.fromkeys(names))


def report_columns(config: Any) -> tuple[str, ...]:
    """The metric columns of the terminal summary and of ``harness compare`` (``[report] columns``)."""
    return report_metrics(config, "columns")


@functools.cache
def headline() -> tuple[str, ...]:
    """The shipped default of ``report_columns`` (registry.toml): the columns of a report that
    records none (an older version's), and the order report.md, the page and the sweep summary
    list metrics in."""
    from harness.machinery.config import Config

    return report_columns(Config.load())


def columns_of(report: dict[str, Any]) -> tuple[str, ...]:
    """The columns a report was made with (``report.json``'s ``columns``), else ``headline()``."""
    return tuple(report.get("columns") or headline())


def load_report(run: Path) -> dict[str, Any]:
    """The report.json of run folder ``run``, of a version in ``READABLE``; one ``InputError``
    line otherwise (no folder, no report, not JSON, not a report, an unknown version)."""
    path = Path(run) / "report.json"
    if not Path(run).exists():
        raise InputError(f"{run}: no such run folder")
    if not path.is_file():
        raise InputError(f"{run}: no report.json (did the run finish?)")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    schema = report.get("schema") if isinstance(report, dict) else None
    if not isinstance(schema, str) or not schema.startswith("calibration-harness/report/"):
        raise InputError(f"{path}: not a calibration-harness report ({SCHEMA})")
    if schema not in READABLE:
        known = ", ".join(v.rpartition("/")[2] for v in READABLE)
        raise InputError(f"{path}: report version {schema.rpartition('/')[2]} ({schema}), which "
                         f"this calibration-harness does not read (it reads {known}); "
                         "read it with the version that made it")
    return report



def split_sets(run: Path) -> tuple[set[str], set[str]]:
    """What split.json says was trained on and evaluated: the ids, or, when the evaluated
    questions come from another task (``--eval-task``), the digests of the questions' text."""
    path = run / "split.json"
    try:
        split = json.loads(path.read_text(encoding="utf-8"))
        other_task = "test_questions" in split
        train_key, test_key = ("train_questions", "test_questions") if other_task else ("train", "test")
        return set(split[train_key]), set(split[test_key])
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(f"{path}: missing or unreadable; the run cannot be re-checked") from None


def held_out_split(run: Path) -> bool:
    """Held out when the split's training and evaluated sets (``split_sets``) exist and do not
    overlap: no shared id, or with ``--eval-task`` no question's text in both."""
    train, test = split_sets(run)
    return bool(train) and bool(test) and not train & test
