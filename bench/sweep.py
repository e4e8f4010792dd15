"""What does ``harness sweep`` add beyond its runs? (Target: under 1 s per cell.)

Builds a tiny random model offline and a 36-question file, then runs an evaluation-only sweep
of ``--cells`` cells (seeds x two values of one parameter) in one process and prints, side by
side:

- the sweep's wall time and the sum of its cells' own run times (each cell's manifest
  ``wall_seconds``), their difference per cell: the sweep's overhead (building and checking the
  grid, the resume checks, summarizing and writing sweep.json and sweep.md);
- the same sweep again, every cell finished: what a resumed sweep costs per cell.

With ``--executors``, the same grid again under each executor, side by side in one run, each
with ``--jobs`` cells at once: ``local`` processes, submitit's local executor and a local Ray
(``init.num_cpus`` = ``--jobs``). Overhead per cell = (wall x jobs - the cells' own run times)
/ cells: the slot-seconds a cell costs beyond its run (a process start, imports, the engine's
scheduling and polling). With ``--slurm`` (root, Debian's Slurm daemons installed): the time
from ``--submit-only`` to the first cell running (its ``attempts.jsonl`` start) on a one-node
Slurm started as the tests start it.

    python bench/sweep.py
    python bench/sweep.py --seeds 4 --out runs/bench-sweep
    python bench/sweep.py --executors --jobs 2 --slurm
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

COLOURS = ["red", "blue", "green", "yellow", "black", "white"] * 6


def tiny_model(folder: Path) -> Path:
    from harness.plugins.models.build import new_causal_lm, save_model, train_tokenizer

    texts = [f"Question: What is the colour of item {i}?\nAnswer: {c}\n" for i, c in enumerate(COLOURS)]
    tokenizer = train_tokenizer(texts, vocab_size=300)
    return save_model(new_causal_lm(tokenizer, hidden_size=32, num_layers=2, num_heads=4, seed=0),
                      tokenizer, folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="Seeds per parameter value (cells = 2 x seeds).")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-sweep"))
    parser.add_argument("--executors", action="store_true", help="Compare local, submitit and ray.")
    parser.add_argument("--jobs", type=int, default=2, help="Cells at once under each executor.")
    parser.add_argument("--slurm", action="store_true", help="Time --submit-only to a first running cell.")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HARNESS_CACHE_DIR", str(args.out / "cache"))
    from harness.running.experiment import ExperimentSpec
    from harness.running.sweep import run_sweep

    model = args.out / "model"
    if not (model / "config.json").is_file():
        tiny_model(model)
    qa = args.out / "qa.jsonl"
    qa.write_text("".join(json.dumps({"id": f"q{i}", "question": f"What is the colour of item {i}?",
                                      "answer": c, "item": f"item{i // 2}"}) + "\n"
                          for i, c in enumerate(COLOURS)))
    base = ExperimentSpec(task="jsonl", model=str(model), progress=False, calibrators=(),
                          overrides=(f"task.path={qa}", "task.group_field=item", "backend.max_new_tokens=4"))
    sweep = args.out / "sweep"
    shutil.rmtree(sweep, ignore_errors=True)
    grid = dict(seeds=list(range(args.seeds)), overrides=["extractor.aggregation=mean_prob,min"])
    began = time.perf_counter()
    summary = run_sweep(base, sweep, **grid)
    wall = time.perf_counter() - began
    cells = len(summary["cells"])
    runs = sum(json.loads((sweep / c["folder"] / "manifest.json").read_text())["wall_seconds"]
               for c in summary["cells"])
    began = time.perf_counter()
    run_sweep(base, sweep, **grid)
    resumed = time.perf_counter() - began
    print(f"{cells} cells (evaluation only, 36 questions each):")
    print(f"  sweep wall time             {wall:7.2f} s")
    print(f"  its cells' own run times    {runs:7.2f} s")
    print(f"  overhead per cell           {(wall - runs) / cells:7.2f} s  "
          f"({(wall - runs) / runs:.1%} of the runs; target < 1 s per cell)")
    print(f"  resumed, all cells finished {resumed / cells:7.3f} s per cell")
    if args.executors:
        compare_executors(base, args.out, grid, args.jobs)
    if args.slurm:
        slurm_first_cell(base, args.out, grid)


def own_runs(sweep: Path) -> float:
    from harness.running.sweep_plan import read_plan

    return sum(json.loads((c.spec.out / "manifest.json").read_text())["wall_seconds"]
               for c in read_plan(sweep).cells)


def compare_executors(base, out: Path, grid: dict, jobs: int) -> None:  # type: ignore[no-untyped-def]
    """The same grid under each executor, ``jobs`` cells at once, one after another in this run."""
    from harness.running.sweep import run_sweep

    print(f"executors side by side, {jobs} cells at once (overhead = (wall x {jobs} - runs) / cells):")
    print(f"  {'executor':<22}{'wall s':>8}{'runs s':>8}{'overhead/cell s':>17}")
    for name, executor, options in [
        ("local --jobs", "local", []),
        ("submitit (local)", "submitit", ["cluster=local"]),
        ("ray (local)", "ray", [f"init.num_cpus={jobs}"]),
    ]:
        sweep = out / f"sweep-{executor}"
        shutil.rmtree(sweep, ignore_errors=True)
        began = time.perf_counter()
        summary = run_sweep(base, sweep, jobs=jobs, executor=executor, executor_options=options, **grid)
        wall = time.perf_counter() - began
        cells, runs = len(summary["cells"]), own_runs(sweep)
        print(f"  {name:<22}{wall:8.1f}{runs:8.1f}{(wall * jobs - runs) / cells:17.2f}", flush=True)


def slurm_first_cell(base, out: Path, grid: dict) -> None:  # type: ignore[no-untyped-def]
    """Seconds from ``--submit-only`` to the first cell running on a one-node Slurm."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from slurm_cluster import one_node_slurm

    from harness.running.sweep import run_sweep
    from harness.running.sweep_plan import read_attempts, read_plan

    sweep = out / "sweep-slurm"
    shutil.rmtree(sweep, ignore_errors=True)
    with one_node_slurm(out / "slurm") as env:
        os.environ["SLURM_CONF"] = env["SLURM_CONF"]
        began = time.perf_counter()
        run_sweep(base, sweep, executor="submitit", executor_options=["cluster=slurm"], submit_only=True,
                  jobs=2, **grid)
        submitted = time.perf_counter() - began
        folders = [c.spec.out for c in read_plan(sweep).cells]
        while not any(read_attempts(f) for f in folders):
            time.sleep(0.05)
        first = time.perf_counter() - began
        while not all(any(a["event"] == "end" for a in read_attempts(f)) for f in folders):
            time.sleep(0.5)
        done = time.perf_counter() - began
    print("one-node Slurm (submitit array):")
    print(f"  --submit-only returned after  {submitted:6.2f} s")
    print(f"  first cell running after      {first:6.2f} s  (its attempts.jsonl start)")
    print(f"  every cell ended after        {done:6.2f} s")


if __name__ == "__main__":
    main()
