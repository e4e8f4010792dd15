"""The ``openai`` judge through the real ``openai`` SDK against a local OpenAI-compatible
server: the grader prompt it sends, how it reads replies, keys and base URLs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import attrs
import pytest
from fake_openai_server import FakeOpenAIServer
from judge_helpers import FAST, fields, fresh_cache, grader, items  # noqa: F401 - fixture

from harness.errors import HarnessError
from harness.judging import judge_predictions
from harness.judging.settings import JudgeSettings
from harness.machinery import registry
from harness.machinery.config import Config
from harness.plugins.judges.openai_judge import OpenAIJudge
from harness.records import Example, Prediction


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def test_grades_through_the_sdk_with_the_grader_prompt(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with FakeOpenAIServer(responder=grader, api_key="test-key") as server:
        config = Config.load(overrides=[f"judge.base_url={server.base_url}"])
        judge, settings = registry.create_judge("openai", config)
        summary = judge_predictions(judge, FAST, items(6), tmp_path / "j.jsonl", progress=False)
        body = server.bodies()[0]
    assert summary.grades == {"correct": 4, "incorrect": 2, "not_attempted": 0}
    # SimpleQA's grader configuration: its grader model and system message, sampled at 0.5, 2048 tokens
    assert body["model"] == "gpt-4.1-2025-04-14" and body["temperature"] == 0.5
    assert body["messages"][0] == {"role": "system", "content": "You are a helpful assistant."}
    assert body["max_completion_tokens"] == 2048
    sent = fields(body)
    assert set(sent) == {"QUESTION", "GOLD TARGET", "PREDICTED ANSWER"}
    prompt = body["messages"][1]["content"]
    assert "Reply with a single letter: A, B or C" in prompt
    # SimpleQA's rules reach the grader: a partial answer admitting not knowing the rest, hedging,
    # an admission beside a wrong statement, numbers both ways, a presumed surname
    for rule in ("I know one of them is Malia, but I'm not sure about the other one",
                 "but I'm not sure and would have to double check", "Barack Obama has three children",
                 '"113k" and "100k" are incorrect', "their surname can be presumed"):
        assert rule in " ".join(prompt.split()), rule
    assert summary.usage["prompt_tokens"] > 0 and summary.usage["completion_tokens"] == 6
    assert summary.cost_usd is not None and summary.cost_usd > 0  # gpt-4.1's list price


def test_base_url_comes_from_the_environment_when_no_parameter(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with FakeOpenAIServer(responder=lambda body: "C") as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        judge, settings = registry.create_judge("openai", Config.load())
        summary = judge_predictions(judge, settings, items(2), tmp_path / "j.jsonl", progress=False)
        assert server.counters["received"] == 2
    assert summary.grades["not_attempted"] == 2


def test_reasoning_models_get_no_temperature_and_a_token_limit_is_sent_when_set(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with FakeOpenAIServer(responder=lambda body: "A") as server:
        judge = OpenAIJudge(model="o4-mini", base_url=server.base_url, max_tokens=64)
        judge_predictions(judge, FAST, items(1), tmp_path / "j.jsonl", progress=False)
        body = server.bodies()[0]
    assert "temperature" not in body and body["max_completion_tokens"] == 64


@pytest.mark.parametrize(
    ("reply", "grade"),
    [("B", "incorrect"), ("**A**", "correct"), ("Grade: C", "not_attempted"), ("INCORRECT", "incorrect")],
)
def test_reply_shapes_are_parsed(reply: str, grade: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with FakeOpenAIServer(responder=lambda body: reply) as server:
        judge = OpenAIJudge(base_url=server.base_url)
        summary = judge_predictions(judge, FAST, items(1), tmp_path / "j.jsonl", progress=False)
    assert summary.judgments[0].grade == grade and summary.judgments[0].raw == reply


@pytest.mark.parametrize(
    ("unparsed", "grade", "error"),
    [("not_attempted", "not_attempted", None),  # SimpleQA's rule, the default
     ("error", None, "unparseable grader reply (asked twice)")],
)
def test_an_unparseable_reply_is_asked_once_more_then_judged_by_the_unparsed_policy(
        unparsed: str, grade: str | None, error: str | None, tmp_path) -> None:  # type: ignore[no-untyped-def]
    replies = iter(["Let me think about it.", "B", "No idea what to say.", "Still thinking."])
    with FakeOpenAIServer(responder=lambda body: next(replies)) as server:
        judge = OpenAIJudge(base_url=server.base_url, unparsed=unparsed)
        settings = JudgeSettings(concurrency=1, max_error_rate=1.0, backoff_base=0.01)
        summary = judge_predictions(judge, settings, items(2), tmp_path / "j.jsonl", progress=False)
        assert server.counters["received"] == 4
    first, second = summary.judgments
    assert first.grade == "incorrect" and first.error is None
    assert (second.grade, second.error, second.raw) == (grade, error, "Still thinking.")
    assert summary.errors == (grade is None)
    assert judge.prompt_version.endswith(f"/unparsed-{unparsed}")  # a policy never reuses another's verdicts


def test_a_template_file_replaces_the_built_in_prompt_and_its_hash_keys_the_cache(tmp_path) -> None:  # type: ignore[no-untyped-def]
    template = tmp_path / "grader.txt"
    template.write_text("Q={question} | GOLD={target} | SAID={predicted_answer} | {\"json\": 1}\nA, B or C?")
    with FakeOpenAIServer(responder=lambda body: "A") as server:
        judge = OpenAIJudge(base_url=server.base_url, template=str(template))
        judge_predictions(judge, FAST, items(1), tmp_path / "j.jsonl", progress=False)
        sent = server.bodies()[0]["messages"][1]["content"]
    assert sent == 'Q=What is the code of item 0? | GOLD=code-0 | SAID=code-1000 | {"json": 1}\nA, B or C?'
    assert judge.prompt_version.startswith("template-sha256-")
    template.write_text(template.read_text() + " ")
    assert OpenAIJudge(template=str(template)).prompt_version != judge.prompt_version


@pytest.mark.parametrize(
    ("text", "message"),
    [("{question} {target}", r"lacks \{predicted_answer\}"),
     ("{question} {target} {predicted_answer} {gold}", r"has unknown \{gold\}"),
     ("{question} {answer}", r"lacks \{target\}, \{predicted_answer\}; has unknown \{answer\}")],
)
def test_a_template_without_a_placeholder_or_with_an_unknown_one_is_one_line_exit_2(
        text: str, message: str, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from harness.cli import main

    template = tmp_path / "bad.txt"
    template.write_text(text)
    with pytest.raises(HarnessError, match=message) as error:
        OpenAIJudge(template=str(template))
    assert "\n" not in str(error.value)
    with pytest.raises(SystemExit) as exited:  # the openai backend builds nothing heavy first
        main(["run", "--backend", "openai", "--model", "m", "--judge", "openai",
              "--out", str(tmp_path / "run"), "-p", f"judge.template={template}"])
    err = capsys.readouterr().err.strip()
    assert exited.value.code == 2 and err.startswith("harness: error: judge template") and "\n" not in err


def test_an_empty_answer_is_not_attempted_without_asking(tmp_path) -> None:  # type: ignore[no-untyped-def]
    example = Example(id="e", question="Q?", answer="A")
    with FakeOpenAIServer() as server:
        judge = OpenAIJudge(base_url=server.base_url)
        empty = Prediction(example_id="e", answer=" ", confidence=None)
        summary = judge_predictions(judge, FAST, [(example, empty)], tmp_path / "j.jsonl", progress=False)
        assert server.counters.get("received", 0) == 0
    assert summary.judgments[0].grade == "not_attempted"


def test_a_missing_key_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(HarnessError, match="set OPENAI_API_KEY") as error:
        registry.create_judge("openai", Config.load())
    assert "\n" not in str(error.value)


def test_the_key_is_no_parameter() -> None:
    assert "api_key" not in registry.resolve_params("judge", "openai", Config.load())


def _priced(server: FakeOpenAIServer) -> OpenAIJudge:
    """A judge at a price that makes each verdict cost about a dollar."""
    return OpenAIJudge(model="local-grader", base_url=server.base_url, price_input=1000.0, price_output=0.0)


def _item_cost(judge: OpenAIJudge, pair: tuple[Example, Prediction]) -> float:
    return judge.cost(judge.estimate_usage(*pair))


def test_the_estimated_cost_is_printed_before_a_paid_judge_is_asked(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    pairs = items(4)
    with FakeOpenAIServer(responder=grader) as server:
        judge = _priced(server)
        expected = sum(_item_cost(judge, pair) for pair in pairs)
        summary = judge_predictions(judge, FAST, pairs, tmp_path / "j.jsonl", progress=False)
        again = judge_predictions(judge, FAST, pairs, tmp_path / "k.jsonl", progress=False)
    printed = capsys.readouterr().err.splitlines()
    estimate = [line for line in printed if "estimated cost" in line]
    assert len(estimate) == 1  # the second run is served from the cache: nothing to pay, nothing said
    assert "judge 'openai' (local-grader): asking about 4 item(s)" in estimate[0]
    assert f"estimated cost ${expected:.2f}" in estimate[0]
    assert "at most $" in estimate[0]  # every reply at its 2048-token limit (free here: output costs 0)
    assert summary.cost_usd > 0 and again.cached == 4


def test_max_cost_stops_cleanly_and_a_rerun_resumes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from harness.judging.budget import JudgeBudgetReached

    pairs = items(6)
    out = tmp_path / "j.jsonl"
    with FakeOpenAIServer(responder=grader) as server:
        judge = _priced(server)
        cap = 2.5 * max(_item_cost(judge, pair) for pair in pairs)  # room for two verdicts
        capped = JudgeSettings(**{**attrs.asdict(FAST), "max_cost": cap})
        with pytest.raises(JudgeBudgetReached, match=r"--max-judge-cost \$.* reached .* 2 of 6 items judged"):
            judge_predictions(judge, capped, pairs, out, progress=False, use_cache=False)
        assert server.counters["received"] == 2  # nothing asked past the cap
        kept = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(kept) == 2 and all(row["grade"] for row in kept)
        summary = judge_predictions(judge, FAST, pairs, out, progress=False, use_cache=False)
        assert server.counters["received"] == 6  # the rest, once
    assert (summary.resumed, summary.graded) == (2, 4)


def test_a_cap_on_a_judge_without_a_price_is_refused_before_asking(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with FakeOpenAIServer(responder=grader) as server:
        judge = OpenAIJudge(model="local-grader", base_url=server.base_url)
        capped = JudgeSettings(**{**attrs.asdict(FAST), "max_cost": 1.0})
        with pytest.raises(HarnessError, match="needs the price of model 'local-grader'"):
            judge_predictions(judge, capped, items(2), tmp_path / "j.jsonl", progress=False)
        assert server.counters.get("received", 0) == 0


def _model_or_grader(body: dict) -> str:
    """The served model answers item i with i (wrong for every third); the judge grades."""
    prompt = FakeOpenAIServer.prompt_text(body)
    if "GOLD TARGET:" in prompt:
        return grader(body)
    i = int(re.search(r"item (\d+)", prompt).group(1))
    return f"Answer: code-{i + 1 if i % 3 == 0 else i}\nConfidence: 70%"


def test_max_judge_cost_on_the_command_line_stops_the_run_in_one_line_and_a_rerun_resumes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "q.jsonl"
    data.write_text("".join(json.dumps({"id": f"q{i:02d}", "question": f"What is the code of item {i}?",
                                        "answer": f"code-{i}"}) + "\n" for i in range(12)))
    env = {**os.environ, "OPENAI_API_KEY": "test-key", "HARNESS_CACHE_DIR": str(tmp_path / "cache")}
    with FakeOpenAIServer(responder=_model_or_grader) as server:
        args = [sys.executable, "-m", "harness.cli", "run", "--task", "jsonl", "-p", f"task.path={data}",
                "--backend", "openai", "--model", "served", "-p", f"backend.base_url={server.base_url}",
                "--extractor", "verbalized", "--judge", "openai", "-p", f"judge.base_url={server.base_url}",
                "-p", "judge.model=local-grader", "-p", "judge.price_input=1000",
                "-p", "judge.price_output=0", "--calibrator", "none", "--out", str(tmp_path / "run")]
        capped = subprocess.run([*args, "--max-judge-cost", "2"], capture_output=True, text=True, env=env,
                                timeout=300)
        asked = sum("GOLD TARGET:" in FakeOpenAIServer.prompt_text(b) for b in server.bodies())
        rerun = subprocess.run([*args, "--max-judge-cost", "1000"], capture_output=True, text=True, env=env,
                               timeout=300)
        total = sum("GOLD TARGET:" in FakeOpenAIServer.prompt_text(b) for b in server.bodies())
    assert capped.returncode == 2 and "Traceback" not in capped.stderr
    assert "judge 'openai' (local-grader): asking about 12 item(s), estimated cost $" in capped.stderr
    assert re.search(r"--max-judge-cost \$2\.00 reached .* of 12 items judged and kept", capped.stderr)
    assert 1 <= asked < 12  # stopped at the cap, each verdict so far kept
    assert rerun.returncode == 0, rerun.stderr
    assert f"asking about {12 - asked} item(s)" in rerun.stderr and total == 12  # the rest, once
