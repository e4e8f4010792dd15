"""A judging run killed with SIGKILL mid-stage, then rerun: nothing lost, nothing
duplicated, and only the requests that were in flight at the kill are asked again."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_openai_server import FakeOpenAIServer
from judge_helpers import example_id, expected_grade, fresh_cache, grader, items  # noqa: F401 - fixture

from harness.artifacts import read_jsonl
from harness.judging import judge_predictions
from harness.judging.settings import JudgeSettings
from harness.plugins.judges.openai_judge import OpenAIJudge

CHILD = Path(__file__).parents[1] / "judging_child.py"


def _wait_for_lines(path: Path, count: int, child: subprocess.Popen, deadline: float) -> None:
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        assert child.poll() is None, child.stderr.read().decode() if child.stderr else "child exited"
        time.sleep(0.005)
    raise AssertionError(f"no {count} judgments written in time")


@pytest.mark.slow
def test_a_run_killed_mid_judging_resumes_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    n, concurrency = 80, 4
    pairs = items(n)
    out = tmp_path / "judge" / "judgments.jsonl"
    with FakeOpenAIServer(responder=grader, latency=0.1) as server:
        child = subprocess.Popen(
            [sys.executable, str(CHILD), str(out), server.base_url, str(n), str(concurrency)],
            stderr=subprocess.PIPE,
        )
        try:
            _wait_for_lines(out, 12, child, time.monotonic() + 60)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        while server.in_flight:  # the dead child's last requests still finish on the server
            time.sleep(0.01)
        asked_before = {example_id(r.body) for r in server.requests}
        written = {row["example_id"] for row in read_jsonl(out).rows}
        in_flight = asked_before - written
        assert 12 <= len(written) < n and len(in_flight) <= concurrency

        server.reset()
        server.latency = 0.01
        settings = JudgeSettings(concurrency=concurrency, backoff_base=0.01)
        judge = OpenAIJudge(base_url=server.base_url)
        summary = judge_predictions(judge, settings, pairs, out, progress=False)
        asked_again = [example_id(r.body) for r in server.requests]

    everything = {e.id for e, _ in pairs}
    assert len(asked_again) == len(set(asked_again)) == n - len(written)  # each missing one, once
    assert set(asked_again) == everything - written
    assert set(asked_again) & asked_before == in_flight  # re-asked: only what was in flight
    rows = read_jsonl(out).rows
    assert [r["example_id"] for r in rows] == [e.id for e, _ in pairs]  # complete, no duplicates
    assert [r["grade"] for r in rows] == [expected_grade(e, p) for e, p in pairs]
    assert summary.resumed == len(written) and summary.graded == n - len(written)
    assert out.read_bytes().endswith(b"\n") and not read_jsonl(out).torn
