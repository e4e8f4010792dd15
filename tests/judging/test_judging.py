"""The judge runner gives any judge — here a small third-party-shaped one — concurrency,
retries with back-off, resume, error accounting and usage totals."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

import openai
import pytest
from judge_helpers import expected_grade, fresh_cache, items  # noqa: F401 - fixture

from harness.errors import HarnessError
from harness.judging import (
    JudgingFailed,
    classify,
    judge_predictions,
    load_judgments,
    redact,
)
from harness.judging.inputs import verdict_key
from harness.judging.settings import JudgeSettings, verdict
from harness.records import Example, Judgment, Prediction

try:  # the HTTP library under the installed openai SDK
    import httpx2 as httpx
except ImportError:  # pragma: no cover - older SDKs
    import httpx  # type: ignore[no-redef]

FAST = {"backoff_base": 0.01, "backoff_max": 0.05, "timeout": 5.0}


class HTTPError(Exception):
    """What an HTTP SDK raises: an exception with a ``status_code``."""

    def __init__(self, status_code: int, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code
        self.retry_after = retry_after


class ScriptedJudge:
    """Grades by exact match after raising, per example, the exceptions of its script."""

    name = "scripted"
    model = "m1"
    prompt_version = "v1"

    def __init__(self, script: dict[str, list[BaseException]] | None = None, delay: float = 0.0) -> None:
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.delay = delay
        self.calls: Counter[str] = Counter()
        self.times: dict[str, list[float]] = {}
        self.in_flight = 0
        self.max_in_flight = 0

    async def grade(self, example: Example, prediction: Prediction) -> Judgment:
        self.calls[example.id] += 1
        self.times.setdefault(example.id, []).append(time.monotonic())
        pending = self.script.get(example.id)
        if pending:
            failure = pending[0]
            if not getattr(failure, "forever", False):
                pending.pop(0)
            raise failure
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        return Judgment(
            example_id=example.id,
            grade=expected_grade(example, prediction),
            judge=self.name,
            model=self.model,
            answer=prediction.answer,
            raw="ok",
            usage={"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
        )


def forever(exc: BaseException) -> BaseException:
    exc.forever = True  # type: ignore[attr-defined]
    return exc


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_item_is_judged_once_written_in_order_with_usage(tmp_path: Path) -> None:
    judge, pairs = ScriptedJudge(), items(20)
    out = tmp_path / "judgments.jsonl"
    summary = judge_predictions(judge, JudgeSettings(**FAST), pairs, out, progress=False)
    assert set(judge.calls.values()) == {1}
    assert [row["example_id"] for row in lines(out)] == [e.id for e, _ in pairs]
    counts = (summary.total, summary.graded, summary.errors, summary.cached, summary.resumed)
    assert counts == (20, 20, 0, 0, 0)
    assert summary.grades == {"correct": 13, "incorrect": 7, "not_attempted": 0}
    assert summary.usage == {"prompt_tokens": 200, "completion_tokens": 20, "total_tokens": 220}
    assert summary.cost_usd is None  # this judge knows no price
    assert "judgments" not in summary.to_dict()


def test_transient_failures_are_retried_and_final_ones_are_recorded_not_dropped(tmp_path: Path) -> None:
    judge = ScriptedJudge(
        {
            "q1": [HTTPError(500), HTTPError(429, retry_after=0.01)],  # recovers on the 3rd attempt
            "q2": [ValueError("malformed reply")],  # not transient: fails at once
            "q4": [forever(HTTPError(503))],  # never recovers
        }
    )
    settings = JudgeSettings(max_attempts=3, max_error_rate=0.5, **FAST)
    out = tmp_path / "judgments.jsonl"
    summary = judge_predictions(judge, settings, items(6), out, progress=False)
    judged = load_judgments(out)
    assert judged["q1"].grade == "correct" and judge.calls["q1"] == 3
    assert judged["q2"].grade is None and judge.calls["q2"] == 1
    assert judged["q2"].error == "after 1 attempt(s): ValueError: malformed reply"
    assert judged["q4"].grade is None and judge.calls["q4"] == 3
    assert "HTTP 503" in judged["q4"].error
    assert (summary.errors, summary.graded, summary.rate_limited) == (2, 4, 1)
    verdicts = [verdict(judged[f"q{i}"].grade) for i in range(6)]
    assert verdicts == [False, True, None, False, None, True]  # errors are no verdict, never wrong


def test_error_rate_above_the_threshold_fails_the_run_after_writing_everything(tmp_path: Path) -> None:
    judge = ScriptedJudge({f"q{i}": [forever(RuntimeError("judge crashed"))] for i in range(3)})
    out = tmp_path / "judgments.jsonl"
    with pytest.raises(JudgingFailed, match=r"3 of 10 items could not be judged") as failed:
        judge_predictions(judge, JudgeSettings(max_error_rate=0.2, **FAST), items(10), out, progress=False)
    assert isinstance(failed.value, HarnessError)
    assert failed.value.summary.errors == 3
    assert len(lines(out)) == 10  # the seven good verdicts are kept


def test_resume_reuses_same_answers_and_asks_again_for_changed_failed_or_torn_ones(tmp_path: Path) -> None:
    pairs = items(6)
    out = tmp_path / "judgments.jsonl"
    kept = Judgment(example_id="q0", grade="incorrect", judge="scripted", model="m1",
                    answer=pairs[0][1].answer,
                    input_key=verdict_key("scripted", ScriptedJudge(), *pairs[0], None))
    # the same answer, but the judge was shown something else (another response, another setting)
    other_input = Judgment(example_id="q5", grade="correct", judge="scripted", model="m1",
                           answer=pairs[5][1].answer, input_key="another input")
    stale = Judgment(example_id="q1", grade="incorrect", judge="scripted", model="m1", answer="an old answer")
    failed = Judgment(example_id="q2", grade=None, judge="scripted", model="m1", answer=pairs[2][1].answer,
                      error="timeout")
    other_model = Judgment(example_id="q3", grade="correct", judge="scripted", model="m0",
                           answer=pairs[3][1].answer)
    body = "".join(json.dumps(j.to_dict()) + "\n" for j in (kept, stale, failed, other_model, other_input))
    out.write_text(body + '{"example_id": "q4", "gra')  # killed mid-line
    judge = ScriptedJudge()
    summary = judge_predictions(judge, JudgeSettings(**FAST), pairs, out, progress=False)
    assert sorted(judge.calls) == ["q1", "q2", "q3", "q4", "q5"]
    assert summary.resumed == 1 and summary.graded == 5
    rows = lines(out)
    assert [r["example_id"] for r in rows] == [f"q{i}" for i in range(6)]  # one line each, in order
    assert rows[1]["answer"] == pairs[1][1].answer


def test_retry_after_is_honoured(tmp_path: Path) -> None:
    judge = ScriptedJudge({"q0": [HTTPError(429, retry_after=0.3)]})
    judge_predictions(judge, JudgeSettings(**FAST), items(1), tmp_path / "j.jsonl", progress=False)
    first, second = judge.times["q0"]
    assert second - first >= 0.3


def test_in_flight_requests_never_exceed_the_concurrency(tmp_path: Path) -> None:
    judge = ScriptedJudge(delay=0.02)
    settings = JudgeSettings(concurrency=4, **FAST)
    judge_predictions(judge, settings, items(30), tmp_path / "j.jsonl", progress=False)
    assert judge.max_in_flight == 4


def test_a_request_over_the_timeout_is_abandoned_and_retried(tmp_path: Path) -> None:
    class SlowOnce(ScriptedJudge):
        async def grade(self, example: Example, prediction: Prediction) -> Judgment:
            if example.id == "q0" and self.calls["q0"] == 0:
                self.calls["q0"] += 1
                await asyncio.sleep(30)
            return await super().grade(example, prediction)

    judge = SlowOnce()
    settings = JudgeSettings(**{**FAST, "timeout": 0.2})
    started = time.monotonic()
    summary = judge_predictions(judge, settings, items(3), tmp_path / "j.jsonl", progress=False)
    assert time.monotonic() - started < 5
    assert summary.timeouts == 1 and summary.errors == 0 and judge.calls["q0"] == 2


def test_refused_credentials_stop_the_run_at_once(tmp_path: Path) -> None:
    judge = ScriptedJudge({f"q{i}": [forever(HTTPError(401))] for i in range(50)})
    with pytest.raises(HarnessError, match=r"HTTP 401 \(credentials refused\)"):
        judge_predictions(judge, JudgeSettings(concurrency=2, **FAST), items(50), tmp_path / "j.jsonl",
                          progress=False)
    assert sum(judge.calls.values()) <= 4  # not fifty requests with a bad key


def test_a_judgment_with_an_error_counts_as_an_error(tmp_path: Path) -> None:
    class Unparseable(ScriptedJudge):
        async def grade(self, example: Example, prediction: Prediction) -> Judgment:
            self.calls[example.id] += 1
            return Judgment(example_id=example.id, grade=None, raw="Hmm.", error="unparseable grader reply")

    judge = Unparseable()
    summary = judge_predictions(judge, JudgeSettings(max_error_rate=1.0, **FAST), items(2),
                                tmp_path / "j.jsonl", progress=False)
    assert summary.errors == 2 and set(judge.calls.values()) == {1}  # the judge already retried
    assert summary.judgments[0].raw == "Hmm." and summary.judgments[0].judge == "scripted"


def test_a_judge_confidence_outside_0_1_is_an_error_not_a_verdict(tmp_path: Path) -> None:
    class Overconfident(ScriptedJudge):
        async def grade(self, example: Example, prediction: Prediction) -> Judgment:
            judgment = await super().grade(example, prediction)
            return Judgment(**{**judgment.to_dict(), "confidence": 85})  # a percentage, not a probability

    summary = judge_predictions(Overconfident(), JudgeSettings(max_error_rate=1.0, **FAST), items(1),
                                tmp_path / "j.jsonl", progress=False)
    judgment = summary.judgments[0]
    assert (judgment.grade, judgment.confidence) == (None, None)
    assert judgment.error == "judge 'scripted': grade() returned a confidence 85 outside [0, 1]"


def test_an_unknown_grade_or_a_non_judgment_is_that_item_s_error_naming_the_judge(tmp_path: Path) -> None:
    class Sloppy(ScriptedJudge):
        async def grade(self, example: Example, prediction: Prediction):  # type: ignore[no-untyped-def]
            if example.id.endswith("0"):
                return {"grade": "correct"}
            return Judgment(example_id=example.id, grade="yes")

    summary = judge_predictions(Sloppy(), JudgeSettings(max_error_rate=1.0, **FAST), items(2),
                                tmp_path / "j.jsonl", progress=False)
    errors = sorted(j.error for j in summary.judgments)
    assert summary.errors == 2 and all(j.grade is None for j in summary.judgments)
    assert errors == [
        "judge 'scripted': grade() returned an unknown grade 'yes' "
        "(grades: correct, incorrect, not_attempted)",
        "judge 'scripted': grade() returned dict, not a Judgment",
    ]


def test_duplicate_example_ids_are_an_input_error(tmp_path: Path) -> None:
    pairs = items(2)
    with pytest.raises(HarnessError, match="appears more than once"):
        judge_predictions(ScriptedJudge(), JudgeSettings(**FAST), pairs + pairs[:1], tmp_path / "j.jsonl")


def test_works_when_called_from_a_running_event_loop(tmp_path: Path) -> None:
    async def notebook_cell() -> int:
        return judge_predictions(ScriptedJudge(), JudgeSettings(**FAST), items(3), tmp_path / "j.jsonl",
                                 progress=False).graded

    assert asyncio.run(notebook_cell()) == 3


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (asyncio.TimeoutError(), "retry"),
        (ConnectionResetError(), "retry"),
        (httpx.ConnectError("refused"), "retry"),
        (openai.APIConnectionError(request=httpx.Request("POST", "http://x")), "retry"),
        (openai.APITimeoutError(request=httpx.Request("POST", "http://x")), "retry"),
        (HTTPError(429), "retry"),
        (HTTPError(503), "retry"),
        (HTTPError(400), "final"),
        (HTTPError(401), "fatal"),
        (type("ServerTimeoutError", (Exception,), {})(), "retry"),  # any SDK's timeout class
        (KeyError("choices"), "final"),
    ],
)
def test_classify_exceptions_of_any_sdk(exc: BaseException, kind: str) -> None:
    assert classify(exc).kind == kind


def test_classify_google_genai_errors() -> None:
    from google.genai import errors

    assert classify(errors.ServerError(503, {"error": {"message": "overloaded"}})).kind == "retry"
    assert classify(errors.ClientError(429, {"error": {"message": "quota"}})).status == 429
    assert classify(errors.ClientError(400, {"error": {"message": "bad"}})).kind == "final"


def test_retry_after_is_read_from_response_headers() -> None:
    response = httpx.Response(429, headers={"retry-after": "2"}, request=httpx.Request("POST", "http://x"))
    error = openai.RateLimitError("slow down", response=response, body=None)
    assert classify(error).retry_after == 2.0


def test_redact_removes_credentials_from_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_SERVICE_TOKEN", "tok-canary-98765")
    message = redact("401: bad key tok-canary-98765 and sk-proj-abcdefghijkl seen")
    assert "canary" not in message and "sk-proj" not in message
