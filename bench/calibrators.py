"""Benchmark: the four built-in calibrators on 4,326 answers, against the metrics they add to.

The size of SimpleQA's test set, with overconfident confidences (Beta(5, 2)) and correctness
drawn at 0.7 times the confidence, seeded; the calibrators are fitted on a training set of
the same size and applied to the 4,326 held-out answers. Timed side by side in one run:

- (a) every metric of the uncalibrated answers with 1,000-resample bootstrap intervals;
- (b) fitting and applying each calibrator (``harness.statistics.calibration``: the core's checks
  included), then the same metrics with 1,000 resamples on each calibrated output;
- (b') the same, scoring only the metrics a calibrated row is judged on (``JUDGED``), printed
  beside (b), not instead of it.

Prints them, their ratio to (a), each calibrator's fit + apply and scoring times, and PASS
when (b)'s calibrator part (fit + apply, all four) is under 1 s (``--max``). Run:
``python bench/calibrators.py [--repeats 3]``. On a shared machine the wall time depends on
the load; the CPU time (user + system) much less.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from harness.machinery import registry
from harness.machinery.config import Config
from harness.statistics.calibration import fit_calibrator
from harness.statistics.scoring import score

N = 4326
CALIBRATORS = ("temperature", "platt", "isotonic", "histogram")
JUDGED = ("rms_calib_err", "ece", "brier", "auroc")  # what a calibrated row is judged on


def data(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    confidence = rng.beta(5, 2, N)
    correct = rng.random(N) < confidence * 0.7
    return confidence, correct


def clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = clocks()
    return wall - start[0], cpu - start[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--max", type=float, default=1.0, help="seconds allowed for fit + apply of all four")
    args = parser.parse_args()
    config = Config.load()
    train, held_out = data(0), data(1)
    missing = [name for name in CALIBRATORS if name not in registry.names("calibrator")]
    if missing:
        print(f"not registered: {', '.join(missing)} (pip install -e . again?)")
        return 2
    score(*held_out, config=config)  # load the plugins once, outside the timing
    plain, fitting, scoring, judged = [], [], [], []
    per_calibrator: dict[str, list[float]] = {name: [] for name in CALIBRATORS}
    per_scoring: dict[str, list[float]] = {name: [] for name in CALIBRATORS}
    for repeat in range(args.repeats):
        start = clocks()
        baseline = score(*held_out, config=config, resamples=args.resamples, seed=repeat)
        plain.append(since(start))
        fit_total, score_total, judged_total = np.zeros(2), np.zeros(2), np.zeros(2)
        results = {}
        for name in CALIBRATORS:
            start = clocks()
            calibrated = fit_calibrator(name, config, *train).apply(held_out[0])
            took = since(start)
            per_calibrator[name].append(took[0])
            fit_total += took
            start = clocks()
            results[name] = score(
                calibrated, held_out[1], config=config, resamples=args.resamples, seed=repeat
            )
            took = since(start)
            per_scoring[name].append(took[0])
            score_total += took
            start = clocks()
            score(calibrated, held_out[1], JUDGED, config=config, resamples=args.resamples, seed=repeat)
            judged_total += since(start)
        fitting.append(tuple(fit_total))
        scoring.append(tuple(score_total))
        judged.append(tuple(judged_total))

    def median(values: list[tuple[float, float]], which: int) -> float:
        return statistics.median(v[which] for v in values)

    a_wall, a_cpu = median(plain, 0), median(plain, 1)
    fit_wall, fit_cpu = median(fitting, 0), median(fitting, 1)
    b_wall = statistics.median(f[0] + s[0] for f, s in zip(fitting, scoring, strict=True))
    b_cpu = statistics.median(f[1] + s[1] for f, s in zip(fitting, scoring, strict=True))
    j_wall = statistics.median(f[0] + j[0] for f, j in zip(fitting, judged, strict=True))
    j_cpu = statistics.median(f[1] + j[1] for f, j in zip(fitting, judged, strict=True))
    metrics = len(baseline["metrics"])
    print(f"n={N} held-out (fitted on {N} training answers), metrics={metrics}, resamples={args.resamples}, "
          f"repeats={args.repeats} (medians)")
    print(f"(a) uncalibrated metrics:                     wall {a_wall:.3f} s, cpu {a_cpu:.3f} s")
    print(f"(b) 4 calibrators fit+apply, + their metrics: wall {b_wall:.3f} s, cpu {b_cpu:.3f} s "
          f"(fit+apply wall {fit_wall:.4f} s, cpu {fit_cpu:.4f} s)")
    print(f"(b') the same, only the {len(JUDGED)} judged metrics ({', '.join(JUDGED)}): "
          f"wall {j_wall:.3f} s, cpu {j_cpu:.3f} s")
    print(f"ratio (b)/(a): wall {b_wall / a_wall:.2f}, cpu {b_cpu / a_cpu:.2f}; "
          f"(b')/(a): wall {j_wall / a_wall:.2f}, cpu {j_cpu / a_cpu:.2f}; "
          f"fit+apply is {fit_wall / a_wall:.1%} of (a)")
    rms = "rms_calib_err"
    for name in CALIBRATORS:
        entry = results[name]["metrics"].get(rms, {})
        print(f"  {name:<12} fit+apply {statistics.median(per_calibrator[name]) * 1000:7.2f} ms, "
              f"its metrics {statistics.median(per_scoring[name]) * 1000:7.1f} ms (wall)   "
              f"{rms} {baseline['metrics'][rms]['value']:.4f} -> {entry.get('value', float('nan')):.4f}")
    verdict = "PASS" if fit_wall < args.max else "FAIL"
    print(f"{verdict}: fitting and applying all four calibrators took {fit_wall:.4f} s "
          f"(goal: under {args.max:g} s)")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
