"""The Python API for notebooks and scripts: run an experiment or a sweep, load a finished run.

Thin wrappers over what ``harness run``, ``harness sweep`` and ``harness check`` use, re-exported
by ``import harness``::

    import harness
    report = harness.run_experiment(task="facts", trainers=("implicit",), limit=40, out="runs/a")
    run = harness.load_run("runs/a")
    run.rows()[0]["metrics"]["rms_calib_err"], len(run.outcomes["baseline-logprob"])

Keyword fields are those of ``ExperimentSpec`` (the options of ``harness run``); errors are the
same ``HarnessError`` kinds the command line prints as one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from harness.running.experiment import ExperimentSpec
from harness.statistics.outcomes import Outcome


def _spec(spec: ExperimentSpec | None, fields: dict[str, Any]) -> ExperimentSpec:
    for name in ("out", "config_file"):
        if isinstance(fields.get(name), str):
            fields[name] = Path(fields[name])
    for name in ("trainers", "metrics", "calibrators", "extra_extractors", "overrides"):
        if isinstance(fields.get(name), (list, str)):
            value = fields[name]
            fields[name] = (value,) if isinstance(value, str) else tuple(value)
    return attrs.evolve(spec or ExperimentSpec(), **fields)


def run_experiment(spec: ExperimentSpec | None = None, **fields: Any) -> dict[str, Any] | None:
    """Run (or resume) one experiment, as ``harness run`` does, and return its report.json.

    ``fields`` override ``spec``'s (default ``ExperimentSpec()``); ``out`` defaults to
    ``runs/<task>-<model>-...`` like the command's. ``None`` in the non-main processes of a
    multi-process launch."""
    from harness.running.experiment import run_experiment as run

    return run(_spec(spec, fields))


def run_sweep(out: str | Path, *, seeds: Sequence[int], spec: ExperimentSpec | None = None,
              extractors: Sequence[str] = (), grid: Sequence[str] = (), jobs: int = 1,
              executor: str = "local", executor_options: Sequence[str] = (), **fields: Any) -> dict[str, Any]:
    """Run (or resume) a sweep into ``out``, as ``harness sweep`` does, and return sweep.json.

    Each seed (and each value list of ``grid``, ``-p`` overrides such as
    ``"trainer.lr=1e-4,3e-4"``) is one cell: an ordinary run folder under ``out``. ``executor``
    (``local``, ``submitit``, ``ray``) and its ``executor_options`` (``"num_gpus=0.5"``) are
    ``--executor`` and ``-x``."""
    from harness.running.sweep import run_sweep as sweep

    base = _spec(spec, fields)
    summary = sweep(base, Path(out), seeds=list(seeds), extractors=list(extractors), overrides=list(grid),
                    jobs=jobs, executor=executor, executor_options=list(executor_options))
    assert summary is not None  # only --plan and --submit-only return none
    return summary


@attrs.frozen
class RunResults:
    """A finished run folder: its ``report`` (report.json) and each report row's per-example
    ``outcomes`` (keyed by the row's ``key``, e.g. ``baseline-logprob``)."""

    folder: Path
    report: dict[str, Any]
    outcomes: dict[str, list[Outcome]]

    def rows(self) -> list[dict[str, Any]]:
        """The report's rows: one per model (baseline, trained, post-hoc) and extractor."""
        return list(self.report["rows"])


def load_run(folder: str | Path) -> RunResults:
    """The report and outcome files of a finished run folder (one line, ``InputError``, when
    ``folder`` holds no readable report)."""
    from harness.reporting.run_folder import load_report
    from harness.statistics import outcomes as outcome_files

    folder = Path(folder)
    report = load_report(folder)
    outcomes = {row["key"]: outcome_files.read(folder / row["outcomes"])
                for row in report["rows"] if row.get("outcomes")}
    return RunResults(folder=folder, report=report, outcomes=outcomes)
