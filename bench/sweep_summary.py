"""What do the sweep summary's two-level intervals cost? (Reported; no target yet.)

Writes a synthetic finished sweep — ``--seeds`` cells, each with a baseline and ``--trainers``
trainers on ``--n`` examples, their outcome files and a report.json computed by the harness's
own ``assess`` — then times, side by side in one process, ``harness.reporting.sweep_summary.summarize``

- as it is (each cell's paired bootstrap replicates of every headline change recomputed from
  its outcome files, for the seeds x bootstrap intervals), and
- with the replicates switched off (every change a t-interval across seeds),

and prints both and their ratio. No model is involved.

    python bench/sweep_summary.py
    python bench/sweep_summary.py --seeds 10 --trainers 5 --n 450 --out runs/bench-sweep-summary
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from harness.machinery.config import Config
from harness.reporting.sweep_summary import summarize
from harness.running.experiment import ExperimentSpec
from harness.running.sweep import build_cells
from harness.statistics import outcomes as outcome_files
from harness.statistics import seed_replicates
from harness.statistics.assessment import RowKey, Settings, assess
from harness.statistics.criteria import thresholds_from


def write_cell(folder: Path, seed: int, trainers: dict[str, float], n: int) -> None:
    """One finished cell: the baseline's confidences noisy, each trainer's less so."""
    rng = np.random.default_rng(seed)
    truth = rng.uniform(0.1, 0.9, n)
    correct = rng.uniform(size=n) < truth

    def outcomes(noise: float) -> list[outcome_files.Outcome]:
        conf = np.clip(truth + rng.normal(0, noise, n), 0, 1)
        return [outcome_files.Outcome(example_id=f"q{i:05d}", grade="correct" if c else "incorrect",
                                      confidence=float(p), group=f"g{i // 3}")
                for i, (p, c) in enumerate(zip(conf, correct, strict=True))]

    rows = {RowKey(label="baseline", extractor="logprob"): outcomes(0.35)}
    rows.update({RowKey(label=t, extractor="logprob"): outcomes(v) for t, v in trainers.items()})
    settings = Settings(thresholds=thresholds_from(), config=Config.load(), seed=seed)
    assessed = assess(rows, dict.fromkeys(trainers, "logprob"), settings, held_out=True)
    folder.mkdir(parents=True)
    for key, row in zip(rows, assessed["rows"], strict=True):
        outcome_files.write(folder / f"{key.slug}.outcomes.jsonl", rows[key])
        row["outcomes"] = f"{key.slug}.outcomes.jsonl"
    (folder / "report.json").write_text(json.dumps({
        "schema": "calibration-harness/report/v2", "rows": assessed["rows"],
        "comparisons": assessed["comparisons"], "bootstrap": assessed["bootstrap"],
        "counting": {"not_attempted": "incorrect", "missing_confidence": 1.0},
        "thresholds": dict(settings.thresholds), "strategies": {"metrics": []}}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--trainers", type=int, default=5)
    parser.add_argument("--n", type=int, default=450, help="Examples per cell (the embedded default's 450).")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-sweep-summary"))
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    trainers = {f"t{i}": 0.05 * (i + 1) for i in range(args.trainers)}
    cells = build_cells(ExperimentSpec(), args.out, list(range(args.seeds)), [], [])
    for cell in cells:
        write_cell(cell.spec.out, cell.seed, trainers, args.n)
    timings = {}
    real = seed_replicates.change_replicates
    for label, replicates in (("two-level (replicates recomputed)", real),
                              ("t-intervals only (no replicates)", lambda *a, **k: {})):
        seed_replicates.change_replicates = replicates
        start = time.perf_counter()
        summarize(cells, args.out, command={})
        timings[label] = time.perf_counter() - start
    seed_replicates.change_replicates = real
    (two, plain) = timings.values()
    print(f"{args.seeds} cells x {args.trainers} trainers, {args.n} examples each:")
    for label, seconds in timings.items():
        print(f"  {label:36s} {seconds:7.2f} s")
    print(f"  ratio {two / plain:.0f}x; {two / (args.seeds * args.trainers):.3f} s per comparison and cell")


if __name__ == "__main__":
    main()
