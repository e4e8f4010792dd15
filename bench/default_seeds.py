"""Does the embedded default pass the seed's success criteria by method, not by luck?

Runs ``harness run --trainer implicit --trainer explicit`` on the embedded default over
several seeds — each seed its own world, its own pretrained ``tiny-<seed>`` model, split and
training seed — then ``harness check`` on each run, and prints every trainer's pass rate
with the numbers behind each verdict. The goal is 5/5 for both trainers.

    python bench/default_seeds.py                 # seeds 0-4
    python bench/default_seeds.py --seeds 0 1 --out runs/bench-seeds
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

TRAINERS = ("implicit", "explicit")


def run_seed(seed: int, out: Path) -> tuple[dict, float]:
    folder = out / f"seed{seed}"
    command = [sys.executable, "-m", "harness.cli", "run", "--model", f"tiny-{seed}", "--seed", str(seed),
               "--out", str(folder)]
    for trainer in TRAINERS:
        command += ["--trainer", trainer]
    began = time.monotonic()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    elapsed = time.monotonic() - began
    check = subprocess.run([sys.executable, "-m", "harness.cli", "check", str(folder)],
                           capture_output=True, text=True)
    report = json.loads((folder / "report.json").read_text())
    report["_check_exit"] = check.returncode
    return report, elapsed


def verdict_line(comparison: dict) -> str:
    parts = []
    for verdict in comparison["criteria"]:
        mark = "ok" if verdict["passed"] else "FAIL"
        parts.append(f"{verdict['name']} {mark}: {verdict['detail']}")
    return "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", type=Path, default=Path("runs/bench-seeds"))
    args = parser.parse_args()
    passes = {t: 0 for t in TRAINERS}
    for seed in args.seeds:
        report, elapsed = run_seed(seed, args.out)
        print(f"seed {seed}: {elapsed:.0f} s (harness check exit {report['_check_exit']})", flush=True)
        for comparison in report["comparisons"]:
            passes[comparison["trainer"]] += comparison["passed"]
            status = "PASS" if comparison["passed"] else "FAIL"
            print(f"  {comparison['trainer']:<9} {status}  {verdict_line(comparison)}", flush=True)
    for trainer in TRAINERS:
        print(f"{trainer}: {passes[trainer]}/{len(args.seeds)} seeds pass the success criteria")


if __name__ == "__main__":
    main()
