"""Benchmark: every registered metric with 1,000-resample bootstrap intervals on 4,326 examples.

The size of SimpleQA's test set. Two kinds of confidences: integer percentages (as HLE's judge
returns them: many ties) and continuous ones (token probabilities: all distinct, the slow case).
Goal: under 1 s each. Run: ``python bench/metrics_bootstrap.py [--repeats 5]``. On a shared
machine the wall time depends on the load; the CPU time (user + system) much less.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from harness.config import Config
from harness.scoring import score

N = 4326


def data(kind: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    confidence = rng.beta(5, 2, N)
    if kind == "percent":
        confidence = np.round(confidence * 100) / 100
    correct = rng.random(N) < confidence * 0.7
    return confidence, correct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    config = Config.load()
    score(*data("percent"), config=config)  # load the plugins once, outside the timing
    for kind in ("percent", "continuous"):
        confidence, correct = data(kind)
        times, cpu = [], []
        for repeat in range(args.repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            result = score(confidence, correct, config=config, resamples=args.resamples, seed=repeat)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        names = len(result["metrics"])
        print(
            f"{kind:<10} n={N} metrics={names} resamples={args.resamples}: wall first {times[0]:.3f} s, "
            f"median {statistics.median(times):.3f} s, min {min(times):.3f} s; "
            f"cpu median {statistics.median(cpu):.3f} s"
        )


if __name__ == "__main__":
    main()
