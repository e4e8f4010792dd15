"""Cheap sweep cells for the cluster tests: the served model and its judge are a real HTTP server
on 127.0.0.1 (``FakeOpenAIServer``), so a cell loads no model and its length is the server's
latency, which a test can raise to hold a cell running and lower to let it finish."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from fake_openai_server import FakeOpenAIServer
from judge_helpers import grader

from harness.running.experiment import ExperimentSpec
from harness.running.sweep_plan import read_attempts

QUESTIONS = 6


def served_or_grader(body: dict[str, Any]) -> str:
    """The served model answers item i with its code (wrong for every third); the judge grades."""
    prompt = FakeOpenAIServer.prompt_text(body)
    if "GOLD TARGET:" in prompt:
        return grader(body)
    i = int(re.search(r"item (\d+)", prompt).group(1))
    return f"Answer: code-{i + 1 if i % 3 == 0 else i}\nConfidence: 70%"


def served_spec(folder: Path, server: FakeOpenAIServer, questions: int = QUESTIONS) -> ExperimentSpec:
    """An evaluation-only run against ``server``: its backend and its judge (one request at a time)."""
    data = folder / "questions.jsonl"
    data.write_text("".join(json.dumps({"id": f"q{i:02d}", "question": f"What is the code of item {i}?",
                                        "answer": f"code-{i}"}) + "\n" for i in range(questions)))
    return ExperimentSpec(task="jsonl", model="served", backend="openai", extractor="verbalized",
                          judge="openai", progress=False, calibrators=(),
                          overrides=(f"task.path={data}", f"backend.base_url={server.base_url}",
                                     f"judge.base_url={server.base_url}", "judge.model=local-grader",
                                     "judge.concurrency=1"))


def events(cell: Path, event: str) -> list[dict[str, Any]]:
    """The ``event`` lines of a cell's attempts.jsonl so far (``start``, ``checkpoint``, ``end``)."""
    return [a for a in read_attempts(cell) if a["event"] == event]


def wait_for_event(cell: Path, event: str, timeout: float = 240.0) -> dict[str, Any]:
    """The first ``event`` line of a cell's attempts.jsonl, once it is there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = events(cell, event)
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"{cell}: no {event!r} within {timeout} s: {read_attempts(cell)}")
