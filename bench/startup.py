"""Start-up time of the ``harness`` command: ``harness --help`` and ``harness list``.

Each command runs in a fresh subprocess, as a user runs it, several times after one
warm-up run; the table gives min / median / max wall time and the median CPU time (which
a busy machine inflates less). The goal is under one second: plugins must keep heavy
imports (torch, transformers, SDKs) inside their factories.

    python bench/startup.py [--runs 10] [--max 1.0]

Exits 1 when a command's median is over ``--max`` seconds.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def harness_command() -> list[str]:
    """The installed ``harness`` script next to this interpreter, else ``python -m harness.cli``."""
    script = Path(sys.executable).with_name("harness")
    if script.exists():
        return [str(script)]
    found = shutil.which("harness")
    return [found] if found else [sys.executable, "-m", "harness.cli"]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timings(command: list[str], runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + system) seconds of each run; CPU time hardly depends on the
    machine's load, wall time does."""
    subprocess.run(command, check=True, capture_output=True)  # warm-up: file caches
    wall, cpu = [], []
    for _ in range(runs):
        cpu_start, start = _children_cpu(), time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        wall.append(time.perf_counter() - start)
        cpu.append(_children_cpu() - cpu_start)
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs per command (default 10)")
    parser.add_argument("--max", type=float, default=1.0, help="median limit in seconds (default 1.0)")
    args = parser.parse_args(argv)

    harness = harness_command()
    commands = {
        "python -c pass (interpreter alone)": [sys.executable, "-c", "pass"],
        "harness --help": [*harness, "--help"],
        "harness list": [*harness, "list"],
        "harness list -v": [*harness, "list", "-v"],
    }
    print(f"{args.runs} runs each, seconds; wall: min / median / max, cpu: median (user + system)")
    print(f"{'command':<38} {'min':>7} {'median':>7} {'max':>7} {'cpu':>7}")
    slow = []
    for label, command in commands.items():
        times, cpu = timings(command, args.runs)
        median = statistics.median(times)
        print(f"{label:<38} {min(times):7.3f} {median:7.3f} {max(times):7.3f} {statistics.median(cpu):7.3f}")
        if label.startswith("harness") and median > args.max:
            slow.append(label)
    if slow:
        print(f"over {args.max:.2f} s: {', '.join(slow)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
