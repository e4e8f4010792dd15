"""Benchmark: every registered metric with 1,000-resample bootstrap intervals on 4,326 examples.

The size of SimpleQA's test set. Two kinds of confidences: integer percentages (as HLE's judge
returns them: many ties) and continuous ones (token probabilities: all distinct, the slow case).
Each is scored with the example bootstrap and with the group (cluster) bootstrap of groups of
3 examples (as ``facts`` has 3 questions per entity), in the same run, repeats interleaved;
the ratio group / example is printed. ``--unequal`` also times groups of 1 to 5 examples
(resamples of unequal sizes: scored in blocks of one width). Goals: under 1 s each; the group
bootstrap within 2x of the example one. Run: ``python bench/metrics_bootstrap.py [--repeats 5]``.
``--per-metric`` instead prints, per kind, the CPU time of the draw and of each metric's
replicates alone (``replicate_all`` with that metric only: its share of the work the metrics
otherwise share, grouping the resamples and their running sums, included), beside all
metrics together. On a shared machine the wall time depends on the load; the CPU time
(user + system) much less.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Hashable, Sequence

import numpy as np

from harness.machinery import registry
from harness.machinery.config import Config
from harness.statistics.bootstrap import draw, replicate_all
from harness.statistics.scoring import as_inputs, score

N = 4326
GROUP_SIZE = 3


def data(kind: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    confidence = rng.beta(5, 2, N)
    if kind == "percent":
        confidence = np.round(confidence * 100) / 100
    correct = rng.random(N) < confidence * 0.7
    return confidence, correct


def equal_groups() -> list[str]:
    """Groups of 3 consecutive examples (1,442 groups)."""
    return [f"entity{i // GROUP_SIZE}" for i in range(N)]


def unequal_groups(seed: int = 0) -> list[str]:
    """Groups of 1 to 5 examples (3 on average), interleaved."""
    rng = np.random.default_rng(seed)
    keys: list[str] = []
    while len(keys) < N:
        keys += [f"entity{len(keys)}"] * int(rng.integers(1, 6))
    return [keys[i] for i in rng.permutation(N)]


def timed(confidence: np.ndarray, correct: np.ndarray, config: Config, resamples: int, seed: int,
          groups: Sequence[Hashable] | None) -> tuple[float, float, int]:
    start, start_cpu = time.perf_counter(), time.process_time()
    result = score(confidence, correct, config=config, resamples=resamples, seed=seed, groups=groups)
    return time.perf_counter() - start, time.process_time() - start_cpu, len(result["metrics"])


def per_metric(config: Config, repeats: int, resamples: int) -> None:
    """CPU time (median over ``repeats``, interleaved) of the draw and of each metric's replicates."""
    fns = {name: registry.create("metric", name, config) for name in registry.names("metric")}
    for kind in ("percent", "continuous"):
        run = as_inputs(*data(kind))
        cpu: dict[str, list[float]] = {name: [] for name in ["draw", *fns, "all metrics"]}
        for repeat in range(repeats):
            start = time.process_time()
            resamples_drawn = draw(N, resamples, repeat)
            cpu["draw"].append(time.process_time() - start)
            for name, fn in [*fns.items(), ("all metrics", None)]:
                chosen = fns if fn is None else {name: fn}
                start = time.process_time()
                replicate_all(chosen, [run], resamples_drawn)
                cpu[name].append(time.process_time() - start)
        print(f"{kind}: n={N} resamples={resamples}, cpu ms (median of {repeats}); each metric alone:")
        for name, times in cpu.items():
            print(f"  {name:<22} {statistics.median(times) * 1000:8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--unequal", action="store_true", help="also time groups of unequal sizes")
    parser.add_argument("--per-metric", action="store_true", help="time each metric's replicates alone")
    args = parser.parse_args()
    config = Config.load()
    score(*data("percent"), config=config)  # load the plugins once, outside the timing
    if args.per_metric:
        per_metric(config, args.repeats, args.resamples)
        return
    units: dict[str, list[str] | None] = {"example": None, f"group of {GROUP_SIZE}": equal_groups()}
    if args.unequal:
        units["group of 1-5"] = unequal_groups()
    for kind in ("percent", "continuous"):
        confidence, correct = data(kind)
        wall: dict[str, list[float]] = {unit: [] for unit in units}
        cpu: dict[str, list[float]] = {unit: [] for unit in units}
        names = 0
        for repeat in range(args.repeats):
            for unit, groups in units.items():  # interleaved: a load spike hits both alike
                w, c, names = timed(confidence, correct, config, args.resamples, repeat, groups)
                wall[unit].append(w)
                cpu[unit].append(c)
        for unit in units:
            print(
                f"{kind:<10} {unit:<11} n={N} metrics={names} resamples={args.resamples}: "
                f"wall first {wall[unit][0]:.3f} s, median {statistics.median(wall[unit]):.3f} s, "
                f"min {min(wall[unit]):.3f} s; cpu median {statistics.median(cpu[unit]):.3f} s"
            )
        base_wall, base_cpu = min(wall["example"]), statistics.median(cpu["example"])
        for unit in list(units)[1:]:
            print(
                f"{kind:<10} {unit} / example: wall (min) {min(wall[unit]) / base_wall:.2f}x, "
                f"cpu (median) {statistics.median(cpu[unit]) / base_cpu:.2f}x (goal: under 2x)"
            )


if __name__ == "__main__":
    main()
