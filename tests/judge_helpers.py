"""Shared pieces of the judge tests: examples, predictions, and a grader that answers
like a real one would (it reads the grader prompt the judge sent to the fake server)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fake_openai_server import FakeOpenAIServer

from harness.judging.settings import JudgeSettings
from harness.records import Example, Prediction

#: retries that wait hundredths of a second, so failing-server tests stay fast
FAST = JudgeSettings(backoff_base=0.01, backoff_max=0.05, timeout=5.0)

_FIELD = re.compile(r"^(QUESTION|GOLD TARGET|PREDICTED ANSWER): (.*)$", re.MULTILINE)


def items(n: int, *, wrong_every: int = 3) -> list[tuple[Example, Prediction]]:
    """``n`` examples; every ``wrong_every``-th prediction is wrong."""
    pairs = []
    for i in range(n):
        example = Example(id=f"q{i}", question=f"What is the code of item {i}?", answer=f"code-{i}")
        answer = f"code-{i + 1000}" if i % wrong_every == 0 else f"code-{i}"
        pairs.append((example, Prediction(example_id=example.id, answer=answer, confidence=0.5)))
    return pairs


def fields(body: dict[str, Any]) -> dict[str, str]:
    """QUESTION / GOLD TARGET / PREDICTED ANSWER of the grader prompt in a request body."""
    return dict(_FIELD.findall(FakeOpenAIServer.prompt_text(body)))


def example_id(body: dict[str, Any]) -> str:
    """The example a grader request is about (its question names the item)."""
    question = fields(body)["QUESTION"]
    return "q" + re.search(r"item (\d+)", question).group(1)


def grader(body: dict[str, Any]) -> str:
    """Reply ``A`` when the predicted answer is the gold target, else ``B``."""
    f = fields(body)
    return "A" if f["PREDICTED ANSWER"] == f["GOLD TARGET"] else "B"


def expected_grade(example: Example, prediction: Prediction) -> str:
    return "correct" if prediction.answer == example.answer else "incorrect"


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A judge cache of this test's own (the session-wide one would leak verdicts between
    tests); import it into a test module to use it."""
    folder = tmp_path / "harness-cache"
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(folder))
    return folder
