"""Benchmark of the judge runner: N judgments against a local OpenAI-compatible server.

The server (``tests/fake_openai_server.py``) answers every request after a fixed latency,
so the ideal elapsed time at concurrency C is ``N * latency / C``. The real ``openai``
judge (the SDK's async client, over HTTP) is run through ``judge_predictions`` with the
cache off. Sequential judging is measured on a smaller sample at concurrency 1 and
extrapolated to N (it would take minutes in full); ``--sequential-sample N`` runs it all.
The server runs in a process of its own (``--in-process``: in a thread of this one).

    python bench/judge.py                  # 1,000 judgments, 0.2 s latency, concurrency 32
    python bench/judge.py --judge gemini   # the same through google-genai
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fake_openai_server import FakeOpenAIServer  # noqa: E402
from judge_helpers import grader, items  # noqa: E402

from harness.judging import judge_predictions  # noqa: E402
from harness.judging.settings import JudgeSettings  # noqa: E402
from harness.records import Example, Judgment, Prediction  # noqa: E402


class SleepJudge:
    """No HTTP at all: each grade sleeps the latency. Measures the runner's own overhead."""

    name, model, prompt_version = "sleep", "none", "v0"

    def __init__(self, latency: float) -> None:
        self.latency = latency

    async def grade(self, example: Example, prediction: Prediction) -> Judgment:
        await asyncio.sleep(self.latency)
        return Judgment(example_id=example.id, grade="correct", raw="A")


def _judge(kind: str, server: Any, latency: float):  # type: ignore[no-untyped-def]
    if kind == "runner":
        return SleepJudge(latency)
    if kind == "gemini":
        from harness.plugins.judges.gemini_judge import GeminiJudge

        return GeminiJudge(base_url=server.root_url)
    from harness.plugins.judges.openai_judge import OpenAIJudge

    return OpenAIJudge(base_url=server.base_url)


class ServerProcess:
    """The fake server in a process of its own, as a real API server is: its threads do not
    compete with the judge runner for this process's GIL."""

    def __init__(self, latency: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "fake_openai_server.py"), "--latency", str(latency),
             "--responder", "judge_helpers:grader"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT / "tests")},
        )
        self.port = int(self.process.stdout.readline())
        self.root_url = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.root_url}/v1"

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def run(kind: str, n: int, latency: float, concurrency: int, folder: Path, *, in_process: bool) -> float:
    if kind == "runner":
        server: Any = contextlib.nullcontext()
    elif in_process:
        server = FakeOpenAIServer(responder=grader, latency=latency)
    else:
        server = ServerProcess(latency)
    with server:
        judge = _judge(kind, server, latency)
        settings = JudgeSettings(concurrency=concurrency, timeout=30.0)
        out = folder / f"{kind}-{n}-{concurrency}.jsonl"
        start = time.perf_counter()
        summary = judge_predictions(judge, settings, items(n), out, use_cache=False, progress=False)
        elapsed = time.perf_counter() - start
        assert summary.graded == n and summary.errors == 0, summary.to_dict()
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sequential-sample", type=int, default=20)
    parser.add_argument("--judge", choices=("openai", "gemini", "runner"), default="openai",
                        help="runner: no HTTP, each grade sleeps the latency (the runner's own overhead)")
    parser.add_argument("--in-process", action="store_true", help="serve from a thread of this process")
    args = parser.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "bench")
    os.environ.setdefault("GEMINI_API_KEY", "bench")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["HARNESS_CACHE_DIR"] = str(Path(tmp) / "cache")
        here = {"in_process": args.in_process}
        run(args.judge, 4, 0.0, 4, Path(tmp), **here)  # warm-up: imports, first connection
        cpu = time.process_time()
        elapsed = run(args.judge, args.n, args.latency, args.concurrency, Path(tmp), **here)
        cpu = time.process_time() - cpu
        sample = min(args.sequential_sample, args.n)
        seq_sample = run(args.judge, sample, args.latency, 1, Path(tmp), **here)
    ideal = args.n * args.latency / args.concurrency
    sequential = seq_sample / sample * args.n
    figures = {
        "judge": args.judge,
        "n": args.n,
        "latency_s": args.latency,
        "concurrency": args.concurrency,
        "elapsed_s": round(elapsed, 2),
        "ideal_s": round(ideal, 2),
        "ratio_to_ideal": round(elapsed / ideal, 3),
        "goal_ratio": 1.25,
        "sequential_s": round(sequential, 1),
        "sequential_measured_on": sample,
        "speedup_vs_sequential": round(sequential / elapsed, 1),
        "throughput_per_s": round(args.n / elapsed, 1),
        "client_cpu_ms_per_judgment": round(1000 * cpu / args.n, 2),
        "server": "none" if args.judge == "runner" else "in-process thread" if args.in_process else "process",
        "floor_s": round(-(-args.n // args.concurrency) * args.latency, 2),  # whole rounds of C requests
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    print(f"{args.n} judgments ({args.judge}), {args.latency} s latency, concurrency {args.concurrency}")
    rate, cpu_each = args.n / elapsed, 1000 * cpu / args.n
    print(f"  elapsed     {elapsed:8.2f} s   ({rate:.1f}/s, {cpu_each:.2f} ms CPU each in this process)")
    print(f"  ideal       {ideal:8.2f} s   N*latency/concurrency -> {elapsed / ideal:.3f}x (goal <= 1.25x;"
          f" whole rounds make {figures['floor_s']:.2f} s the true floor)")
    extrapolated = "" if sample == args.n else f", extrapolated from {sample} items"
    speedup = sequential / elapsed
    print(f"  sequential  {sequential:8.1f} s   (concurrency 1{extrapolated}) -> {speedup:.1f}x faster")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
