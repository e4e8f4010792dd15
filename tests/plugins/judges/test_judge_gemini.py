"""The ``gemini`` judge through the real ``google-genai`` SDK, pointed with
``HttpOptions(base_url=...)`` at a local server speaking Gemini's ``generateContent``."""

from __future__ import annotations

import pytest
from fake_openai_server import FakeOpenAIServer
from judge_helpers import FAST, fields, fresh_cache, grader, items  # noqa: F401 - fixture

from harness.errors import HarnessError
from harness.judging import judge_predictions
from harness.judging.cache import JudgeCache
from harness.judging.settings import JudgeSettings
from harness.machinery import registry
from harness.machinery.config import Config
from harness.plugins.judges.gemini_judge import GeminiJudge


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-test-key")
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)


def test_grades_through_generate_content(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with FakeOpenAIServer(responder=grader, api_key="gemini-test-key") as server:
        judge = GeminiJudge(base_url=server.root_url)
        summary = judge_predictions(judge, FAST, items(6), tmp_path / "j.jsonl", progress=False)
        request = server.requests[0]
    assert summary.grades == {"correct": 4, "incorrect": 2, "not_attempted": 0}
    assert request.path.endswith("/models/gemini-2.5-flash:generateContent")
    assert request.body["generationConfig"]["temperature"] == 0.5  # SimpleQA's grader configuration
    assert "You are a helpful assistant." in str(request.body["systemInstruction"])
    thinking = request.body["generationConfig"]["thinkingConfig"]
    assert list(thinking.values()) == [0]  # the SDK may send thinking_budget or thinkingBudget
    assert set(fields(request.body)) == {"QUESTION", "GOLD TARGET", "PREDICTED ANSWER"}
    assert summary.usage["completion_tokens"] == 6
    assert summary.cost_usd is not None and summary.cost_usd > 0


def test_no_thinking_config_for_models_without_thinking(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with FakeOpenAIServer(responder=lambda body: "A") as server:
        judge = GeminiJudge(model="gemini-2.0-flash", base_url=server.root_url, max_tokens=8)
        judge_predictions(judge, FAST, items(1), tmp_path / "j.jsonl", progress=False)
        config = server.bodies()[0]["generationConfig"]
    assert "thinkingConfig" not in config and config["maxOutputTokens"] == 8


@pytest.mark.parametrize(
    ("model", "budget", "sent"),
    [
        ("gemini-2.5-flash", 0, {"thinkingBudget": 0}),  # Flash can switch thinking off
        ("gemini-2.5-flash-lite", 0, {"thinkingBudget": 0}),
        ("gemini-2.5-pro", 0, {"thinkingBudget": 128}),  # Pro cannot: its minimum budget
        ("gemini-2.5-pro", -1, {"thinkingBudget": -1}),  # dynamic, as asked
        ("gemini-2.5-pro", 512, {"thinkingBudget": 512}),
        ("gemini-3-pro-preview", 0, {"thinkingLevel": "LOW"}),  # Gemini 3 takes a level, not a budget
        ("gemini-3-flash-preview", 0, {"thinkingLevel": "MINIMAL"}),
        ("gemini-flash-latest", 0, {"thinkingBudget": 0}),  # the aliases follow their 2.5 model
        ("gemini-flash-lite-latest", 0, {"thinkingBudget": 0}),
        ("gemini-pro-latest", 0, {"thinkingBudget": 128}),
        ("gemini-3-pro-preview", -1, None),  # the model's own default
    ],
)
def test_the_thinking_budget_is_sent_as_each_model_family_accepts_it(
        model: str, budget: int, sent: dict | None, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with FakeOpenAIServer(responder=lambda body: "A") as server:
        judge = GeminiJudge(model=model, base_url=server.root_url, thinking_budget=budget)
        summary = judge_predictions(judge, FAST, items(1), tmp_path / "j.jsonl", progress=False)
        request = server.requests[0]
    assert request.path.endswith(f"/models/{model}:generateContent") and summary.grades["correct"] == 1
    thinking = request.body["generationConfig"].get("thinkingConfig")
    if sent is None:
        assert thinking is None
    else:  # the SDK may spell the keys in snake or camel case, the level in either case
        normal = {k.replace("_", "").lower(): str(v).upper() for k, v in thinking.items()}
        assert normal == {k.lower(): str(v).upper() for k, v in sent.items()}


def test_google_api_key_is_accepted_too(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("GEMINI_API_KEY")
    monkeypatch.setenv("GOOGLE_API_KEY", "google-key")
    with FakeOpenAIServer(responder=lambda body: "C", api_key="google-key") as server:
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", server.root_url)
        judge, settings = registry.create_judge("gemini", Config.load())
        summary = judge_predictions(judge, settings, items(2), tmp_path / "j.jsonl", progress=False)
    assert summary.grades["not_attempted"] == 2


def test_a_missing_key_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEMINI_API_KEY")
    with pytest.raises(HarnessError, match="set GEMINI_API_KEY"):
        registry.create_judge("gemini", Config.load())


@pytest.mark.parametrize("unparsed", ["error", "not_attempted"])
@pytest.mark.parametrize("finish", ["SAFETY", "MAX_TOKENS"])
def test_a_blocked_or_cut_reply_is_retried_then_a_judge_error_never_a_grade_nor_cached(
        finish: str, unparsed: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """As SimpleQA's reference does, a reply with no text is no verdict: whatever the unparsed
    policy (which is for a reply that states no grade), it is retried, then counted as a judge error."""
    blocked = {"candidates": [{"finishReason": finish, "index": 0}],
               "usageMetadata": {"promptTokenCount": 5}}
    with FakeOpenAIServer(responder=lambda body: blocked) as server:
        judge = GeminiJudge(base_url=server.root_url, unparsed=unparsed)
        settings = JudgeSettings(max_error_rate=1.0, backoff_base=0.01, backoff_max=0.02, max_attempts=3)
        summary = judge_predictions(judge, settings, items(1), tmp_path / "j.jsonl", progress=False)
        assert server.counters["received"] == 3  # every attempt of the runner
    judgment = summary.judgments[0]
    assert judgment.grade is None and summary.errors == 1 and "empty grader reply" in judgment.error
    with JudgeCache() as cache:
        assert len(cache) == 0


@pytest.mark.parametrize("setting", [{"thinking_budget": 512}, {"temperature": 0.0}, {"max_tokens": 64}])
def test_a_setting_that_changes_the_verdict_is_never_served_anothers_cached_verdict(
        setting: dict, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with FakeOpenAIServer(responder=grader) as server:
        judge_predictions(GeminiJudge(base_url=server.root_url), FAST, items(3), tmp_path / "a.jsonl",
                          progress=False)
        again = judge_predictions(GeminiJudge(base_url=server.root_url), FAST, items(3), tmp_path / "b.jsonl",
                                  progress=False)
        other = judge_predictions(GeminiJudge(base_url=server.root_url, **setting), FAST, items(3),
                                  tmp_path / "c.jsonl", progress=False)
        assert server.counters["received"] == 6  # the same settings: cached; another: asked again
    assert (again.cached, other.cached, other.graded) == (3, 0, 3)
