"""Judging through a storm of failures, against a real local server and the real SDK:
rate limits with Retry-After, server errors and hung requests. Every example ends up
graded exactly once; a repeated run asks nothing; no key ever reaches a file.

Every count here is exact on any machine, however loaded: the storm has no client deadline
(an answer, however late, is awaited), and a hung request is answered only after the client
gave up on it (the server waits for that event, not for a clock), so a timeout is counted
where, and only where, the server saw the client give up."""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from pathlib import Path

import pytest
from fake_openai_server import FakeOpenAIServer
from judge_helpers import example_id, expected_grade, fresh_cache, grader, items  # noqa: F401 - fixture

from harness.judging import judge_predictions
from harness.judging.settings import JudgeSettings
from harness.plugins.judges.gemini_judge import GeminiJudge
from harness.plugins.judges.openai_judge import OpenAIJudge

CANARY = "sk-canary-7f3a9c2e51d84b06aa"
#: Requests are counted exactly, so no answer may be given up on: no deadline at all (with one,
#: 0.5 s and later 3 s, an answer sometimes came late on a loaded machine, was asked again, and
#: the counts were off). Timeouts are tested below, where every request hangs until given up.
STORMY = JudgeSettings(
    concurrency=16, max_attempts=12, timeout=math.inf, backoff_base=0.01, backoff_max=0.05, max_error_rate=0.0
)


@pytest.fixture(autouse=True)
def _canary_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    monkeypatch.setenv("GEMINI_API_KEY", CANARY)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)


def _storm(server: FakeOpenAIServer) -> None:
    server.fail_next(429, count=6, retry_after=0.05)
    server.fail_next(500, count=3)


def test_every_example_is_graded_exactly_once_through_a_storm(tmp_path: Path) -> None:
    pairs = items(80)
    server = FakeOpenAIServer(
        responder=grader, api_key=CANARY, failure_rate=0.25, failure_statuses=(429, 500, 502, 503), seed=7
    )
    with server:
        _storm(server)
        judge = OpenAIJudge(base_url=server.base_url)
        summary = judge_predictions(judge, STORMY, pairs, tmp_path / "judgments.jsonl", progress=False)
        log = server.requests
    rows = [json.loads(line) for line in (tmp_path / "judgments.jsonl").read_text().splitlines()]
    assert [r["example_id"] for r in rows] == [e.id for e, _ in pairs]  # all there, once each
    assert all(r["error"] is None for r in rows)
    assert [r["grade"] for r in rows] == [expected_grade(e, p) for e, p in pairs]
    answered = Counter(example_id(r.body) for r in log if r.status == 200 and r.fault is None)
    assert answered == Counter({e.id: 1 for e, _ in pairs})  # nobody asked again after an answer
    faults = Counter(r.fault for r in log)
    assert faults["fail"] == 9 and faults["random"] > 10
    assert summary.timeouts == 0 and not any(r.gave_up for r in log) and summary.rate_limited >= 6
    assert summary.requests == len(log) and summary.retries == len(log) - 80


def test_a_request_that_never_answers_is_a_timeout_counted_exactly(tmp_path: Path) -> None:
    """Every request hangs until the client gives up: each is one timeout, the example an error
    after its attempts; asked again without a deadline, each is graded once."""
    pairs = items(6)
    hasty = JudgeSettings(concurrency=3, max_attempts=2, timeout=0.2, backoff_base=0.01, backoff_max=0.02,
                          max_error_rate=1.0)
    with FakeOpenAIServer(responder=grader, api_key=CANARY) as server:
        server.hang_next(len(pairs) * hasty.max_attempts, seconds=None)  # every request of the first run
        first = judge_predictions(OpenAIJudge(base_url=server.base_url), hasty, pairs,
                                  tmp_path / "1" / "judgments.jsonl", progress=False)
        hung = server.requests
        again = judge_predictions(OpenAIJudge(base_url=server.base_url), STORMY, pairs,
                                  tmp_path / "2" / "judgments.jsonl", progress=False)
        log = server.requests[len(hung):]
    assert len(hung) == first.requests == first.timeouts == 12 == first.retries + len(pairs)
    assert all(r.fault == "hang" and r.gave_up for r in hung)  # the server saw each one given up
    assert [(j.grade, j.error) for j in first.judgments] == [
        (None, "after 2 attempt(s): timeout: TimeoutError: ")] * len(pairs)
    assert [j.grade for j in again.judgments] == [expected_grade(e, p) for e, p in pairs]
    assert Counter(example_id(r.body) for r in log) == Counter({e.id: 1 for e, _ in pairs})
    assert again.timeouts == 0 and not any(r.gave_up or r.fault for r in log)


def test_a_repeated_run_asks_nothing(tmp_path: Path) -> None:
    pairs = items(30)
    with FakeOpenAIServer(responder=grader) as server:
        judge = OpenAIJudge(base_url=server.base_url)
        first = judge_predictions(judge, STORMY, pairs, tmp_path / "1" / "judgments.jsonl", progress=False)
        asked = server.counters["received"]
        second = judge_predictions(judge, STORMY, pairs, tmp_path / "2" / "judgments.jsonl", progress=False)
        assert server.counters["received"] == asked == 30  # the second run asked nothing
        bypass = judge_predictions(judge, STORMY, pairs, tmp_path / "run3" / "judgments.jsonl",
                                   use_cache=False, progress=False)
        assert server.counters["received"] == 60  # --no-cache asks again
    assert (first.graded, second.cached, second.graded, bypass.graded) == (30, 30, 0, 30)
    assert [j.grade for j in second.judgments] == [j.grade for j in first.judgments]
    assert all(j.cached for j in second.judgments) and second.usage["total_tokens"] == 0


def test_a_new_prompt_version_or_model_is_not_served_from_the_cache(tmp_path: Path) -> None:
    pairs = items(4)
    with FakeOpenAIServer(responder=grader) as server:
        first = OpenAIJudge(base_url=server.base_url)
        judge_predictions(first, STORMY, pairs, tmp_path / "a.jsonl", progress=False)
        other_model = OpenAIJudge(base_url=server.base_url, model="gpt-4.1")
        judge_predictions(other_model, STORMY, pairs, tmp_path / "b.jsonl", progress=False)
        new_prompt = OpenAIJudge(base_url=server.base_url)
        new_prompt.prompt_version = "simpleqa-abc-v2"
        judge_predictions(new_prompt, STORMY, pairs, tmp_path / "c.jsonl", progress=False)
        assert server.counters["received"] == 12


def test_the_cache_is_keyed_on_the_registered_name_not_the_judges_own(tmp_path: Path) -> None:
    """Two registrations of one judge class (``openai`` and ``mine:openai``, say) share its
    ``.name``; their verdicts must not be served for each other."""
    pairs = items(4)
    with FakeOpenAIServer(responder=grader) as server:
        judge = OpenAIJudge(base_url=server.base_url)
        judge_predictions(judge, STORMY, pairs, tmp_path / "a.jsonl", name="openai", progress=False)
        again = judge_predictions(judge, STORMY, pairs, tmp_path / "b.jsonl", name="openai", progress=False)
        other = judge_predictions(judge, STORMY, pairs, tmp_path / "c.jsonl", name="mine:openai",
                                  progress=False)
        assert server.counters["received"] == 8
    assert (again.cached, other.graded, other.judge) == (4, 4, "mine:openai")
    assert {j.judge for j in other.judgments} == {"mine:openai"}


def test_the_gemini_judge_through_a_storm(tmp_path: Path) -> None:
    pairs = items(30)
    with FakeOpenAIServer(responder=grader, api_key=CANARY, failure_rate=0.2,
                          failure_statuses=(429, 503), seed=3) as server:
        _storm(server)
        judge = GeminiJudge(base_url=server.root_url)
        summary = judge_predictions(judge, STORMY, pairs, tmp_path / "judgments.jsonl", progress=False)
        log = server.requests
    assert [j.grade for j in summary.judgments] == [expected_grade(e, p) for e, p in pairs]
    answered = Counter(example_id(r.body) for r in log if r.status == 200 and r.fault is None)
    assert answered == Counter({e.id: 1 for e, _ in pairs})
    assert summary.usage["prompt_tokens"] > 0


def test_a_canary_key_reaches_no_file(tmp_path: Path) -> None:
    out = tmp_path / "run"
    pairs = items(20)
    with FakeOpenAIServer(responder=grader, api_key=CANARY, failure_rate=0.3, seed=1) as server:
        _storm(server)
        server.hang_next(3, seconds=None)  # timeouts too: their errors are written
        settings = JudgeSettings(max_attempts=2, timeout=0.5, backoff_base=0.01, max_error_rate=1.0)
        for judge in (OpenAIJudge(base_url=server.base_url), GeminiJudge(base_url=server.root_url)):
            summary = judge_predictions(judge, settings, pairs, out / judge.name / "judgments.jsonl",
                                        progress=False)
            (out / judge.name / "summary.json").write_text(json.dumps(summary.to_dict()))
        assert any(CANARY in r.headers.get("authorization", "") + r.headers.get("x-goog-api-key", "")
                   for r in server.requests)  # the key was really used
    cache = Path(os.environ["HARNESS_CACHE_DIR"])
    files = [p for folder in (out, cache) for p in folder.rglob("*") if p.is_file()]
    assert any(p.suffix == ".sqlite3" for p in files)
    assert any("error" in p.read_text() for p in files if p.name == "judgments.jsonl")
    for path in files:
        assert CANARY.encode() not in path.read_bytes(), path
