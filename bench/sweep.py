"""What does ``harness sweep`` add beyond its runs? (Target: under 1 s per cell.)

Builds a tiny random model offline and a 36-question file, then runs an evaluation-only sweep
of ``--cells`` cells (seeds x two values of one parameter) in one process and prints, side by
side:

- the sweep's wall time and the sum of its cells' own run times (each cell's manifest
  ``wall_seconds``), their difference per cell: the sweep's overhead (building and checking the
  grid, the resume checks, summarizing and writing sweep.json and sweep.md);
- the same sweep again, every cell finished: what a resumed sweep costs per cell.

    python bench/sweep.py
    python bench/sweep.py --seeds 4 --out runs/bench-sweep
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


if __name__ == "__main__":
    main()
