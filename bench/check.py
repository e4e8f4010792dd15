"""Benchmark: ``harness check`` on a 4,326-example run with cross-fitted calibrators.

Builds a run folder synthetically, in the shape ``harness run`` writes it: 4,326 held-out
answers (SimpleQA's test set size) in groups of 3 and as many training answers, extractors
``logprob`` and ``verbalized`` for the baseline, one trainer (on ``logprob``), calibrators
``temperature`` and ``isotonic`` cross-fitted in 5 grouped folds (``harness.statistics.posthoc``), the
base-rate constant, the bar's selection on the training split: 11 rows, every one with its
per-example outcome file. Then times, side by side in one run:

- (a) ``check``: ``harness.reporting.check.check_run`` on that folder, reading the stored calibrated
  confidences (every verdict recomputed from the files, nothing refitted);
- (b) refit + check: what a check that refitted every map would cost: ``posthoc_rows``
  (cross-fitting both models' maps and the bar's training-split cross-validation) and then
  the same verdicts-only assessment (``assess(..., rows=False)``, what ``check`` runs) on its rows;
- (c) check of the raw rows only (the folder without its post-hoc rows): what the post-hoc
  rows add to a check.

Prints the median of ``--repeats`` of each (wall and CPU), the ratios (b)/(a) and (a)/(c), and
PASS when (a)'s wall time is under ``--max`` seconds (2 by default). Run:
``python bench/check.py [--repeats 3]``. On a shared machine the wall time depends on the load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness.machinery.config import Config
from harness.reporting.check import check_run
from harness.reporting.run_folder import SCHEMA
from harness.statistics.assessment import RowKey, Settings, assess
from harness.statistics.criteria import thresholds_from
from harness.statistics.outcomes import Outcome, write
from harness.statistics.posthoc import Scheme, posthoc_rows

N = 4326
CALIBRATORS = ("temperature", "isotonic")
EXTRACTORS = ("logprob", "verbalized")
TRAINER = "brier"


def answers(seed: int, prefix: str, shift: float) -> list[Outcome]:
    """Overconfident answers (Beta(5, 2) confidences, right at 0.7 times them), groups of 3."""
    rng = np.random.default_rng(seed)
    conf = np.clip(rng.beta(5, 2, N) - shift, 0, 1)
    right = rng.random(N) < conf * 0.7 + shift
    return [Outcome(example_id=f"{prefix}{i}", grade="correct" if r else "incorrect", confidence=float(c),
                    group=f"{prefix}g{i // 3}") for i, (c, r) in enumerate(zip(conf, right, strict=True))]


def inputs() -> tuple[dict[RowKey, list[Outcome]], dict[RowKey, list[Outcome]]]:
    """(held-out rows, the baseline's training rows)."""
    test = {RowKey(label="baseline", extractor=e): answers(k, "q", 0.0) for k, e in enumerate(EXTRACTORS)}
    test[RowKey(label=TRAINER, extractor="logprob")] = answers(7, "q", 0.1)
    train = {RowKey(label="baseline", extractor=e): answers(10 + k, "t", 0.0)
             for k, e in enumerate(EXTRACTORS)}
    return test, train


def write_run(folder: Path, rows: dict[RowKey, list[Outcome]], fits: dict[RowKey, dict[str, Any]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    report_rows = []
    for key, items in rows.items():
        write(folder / "outcomes" / f"{key.slug}.jsonl", items)
        row: dict[str, Any] = {"label": key.label, "extractor": key.extractor, "calibrator": key.calibrator,
                               "key": key.slug, "outcomes": f"outcomes/{key.slug}.jsonl", "metrics": {},
                               "counts": {}}
        if key in fits:
            row["calibrator_fit"] = fits[key]
        report_rows.append(row)
    test = [f"q{i}" for i in range(N)]
    (folder / "split.json").write_text(json.dumps({"train": [f"t{i}" for i in range(N)], "test": test}))
    report = {"schema": SCHEMA, "held_out": True, "seed": 0, "rows": report_rows,
              "comparisons": [{"trainer": TRAINER, "extractor": "logprob"}],
              "trainers": {TRAINER: "logprob"}, "strategies": {"metrics": []},
              "counting": {"not_attempted": "incorrect", "missing_confidence": 1.0},
              "bootstrap": {"unit": "group", "requested": "group", "resamples": 1000, "seed": 0},
              "thresholds": {}, "posthoc": Scheme().to_dict()}
    (folder / "report.json").write_text(json.dumps(report))


def timed(fn: Any) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max", type=float, default=2.0, help="(a)'s wall-time limit in seconds")
    args = parser.parse_args()
    config = Config.load()
    test, train = inputs()
    rows, fits = posthoc_rows(test, train, CALIBRATORS, config, Scheme())
    settings = Settings(thresholds=thresholds_from(config), config=config)

    def refit_and_check() -> None:
        again, refits = posthoc_rows(test, train, CALIBRATORS, config, Scheme())
        assess(again, {TRAINER: "logprob"}, settings, held_out=True, fits=refits, rows=False)

    with tempfile.TemporaryDirectory() as tmp:
        full, raw = Path(tmp) / "run", Path(tmp) / "raw"
        write_run(full, rows, fits)
        write_run(raw, test, {})
        cases = {"(a) check, stored calibrated confidences": lambda: check_run(full),
                 "(b) refit every map, then the same assessment": refit_and_check,
                 "(c) check of the raw rows only": lambda: check_run(raw)}
        check_run(full)  # warm: imports and the registry
        times = {name: [timed(fn) for _ in range(args.repeats)] for name, fn in cases.items()}
    median = {name: (statistics.median(t[0] for t in ts), statistics.median(t[1] for t in ts))
              for name, ts in times.items()}
    print(f"{N} held-out answers, {len(rows)} rows ({len(rows) - len(test)} post-hoc), "
          f"1000 bootstrap resamples; median of {args.repeats}; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for name, (wall, cpu) in median.items():
        print(f"{name:<48} wall {wall:6.2f} s   cpu {cpu:6.2f} s")
    (a, a_cpu), (b, b_cpu), (c, c_cpu) = median.values()
    print(f"ratio (b)/(a): wall {b / a:.2f}x, cpu {b_cpu / a_cpu:.2f}x (refitting costs this much more)")
    print(f"ratio (a)/(c): wall {a / c:.2f}x, cpu {a_cpu / c_cpu:.2f}x (what the post-hoc rows add)")
    ok = a < args.max
    print(f"{'PASS' if ok else 'FAIL'}: check {a:.2f} s {'<' if ok else '>='} {args.max:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
