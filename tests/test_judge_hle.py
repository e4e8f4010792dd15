"""The ``hle`` judge through the real ``openai`` SDK against the local OpenAI-compatible server:
HLE's structured output (extracted answer, reasoning, correct yes/no, confidence 0-100), a
missing confidence taken as 100, strict grading, a reply that does not validate; and HLE's
recipe end to end (``harness run --extractor verbalized -p extractor.scale=percent --judge hle``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fake_openai_server import FakeOpenAIServer
from judge_helpers import FAST, fresh_cache  # noqa: F401 - fixture

from harness.experiment import ExperimentSpec, run_experiment
from harness.judge_settings import JudgeSettings
from harness.judging import judge_predictions
from harness.plugins.judges.hle_judge import HLEJudge
from harness.records import Example, Prediction


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def _field(prompt: str, name: str) -> str:
    return re.search(rf"\[{name}\]: (.*?)(?:\n\n|\Z)", prompt, re.DOTALL).group(1)


def hle_grader(body: dict[str, Any]) -> str:
    """A judge that follows HLE's instructions: strict match, the stated confidence or null."""
    prompt = FakeOpenAIServer.prompt_text(body)
    response, gold = _field(prompt, "response"), _field(prompt, "correct_answer")
    answer = re.search(r"Answer: (.*)", response).group(1).strip()
    stated = re.search(r"Confidence: ([\d.]+)%", response)
    return json.dumps({"extracted_final_answer": answer, "reasoning": "compared",
                       "correct": "yes" if answer == gold else "no",
                       "confidence": round(float(stated.group(1))) if stated else None})


def _pairs() -> list[tuple[Example, Prediction]]:
    examples = [Example(id="e1", question="Who wrote Hamlet?", answer="William Shakespeare"),
                Example(id="e2", question="Q2?", answer="42"), Example(id="e3", question="Q3?", answer="7")]
    predictions = [Prediction(example_id="e1", answer="William Shakespeare", confidence=0.85),
                   Prediction(example_id="e2", answer="41", confidence=0.3),
                   Prediction(example_id="e3", answer="7", confidence=None, error="no 'Confidence:' line")]
    return list(zip(examples, predictions, strict=True))


def test_the_structured_output_grades_strictly_and_extracts_the_confidence(tmp_path: Path) -> None:
    with FakeOpenAIServer(responder=hle_grader) as server:
        judge = HLEJudge(base_url=server.base_url)
        summary = judge_predictions(judge, FAST, _pairs(), tmp_path / "j.jsonl", progress=False)
        body = server.bodies()[0]
    assert body["model"] == "o3-mini-2025-01-31" and "temperature" not in body  # HLE's judge model
    assert body["max_completion_tokens"] == 4096 and [m["role"] for m in body["messages"]] == ["user"]
    schema = body["response_format"]["json_schema"]
    assert body["response_format"]["type"] == "json_schema" and schema["strict"] is True
    assert schema["schema"]["required"] == ["extracted_final_answer", "reasoning", "correct", "confidence"]
    first, second, third = summary.judgments
    assert (first.grade, first.confidence) == ("correct", 0.85)
    assert (second.grade, second.confidence) == ("incorrect", 0.3)
    assert (third.grade, third.confidence) == ("correct", 1.0)  # no stated confidence: 100
    assert summary.grades["not_attempted"] == 0  # HLE has no abstention


def test_a_cached_verdict_keeps_the_judges_confidence(tmp_path: Path) -> None:
    with FakeOpenAIServer(responder=hle_grader) as server:
        judge = HLEJudge(base_url=server.base_url)
        judge_predictions(judge, FAST, _pairs(), tmp_path / "a.jsonl", name="hle", progress=False)
        again = judge_predictions(judge, FAST, _pairs(), tmp_path / "b.jsonl", name="hle", progress=False)
        assert server.counters["received"] == 3
    assert again.cached == 3 and [j.confidence for j in again.judgments] == [0.85, 0.3, 1.0]


@pytest.mark.parametrize("reply", [{"confidence": None}, {}])
def test_a_missing_confidence_is_100(reply: dict, tmp_path: Path) -> None:
    answer = {"extracted_final_answer": "7", "reasoning": "r", "correct": "yes", **reply}
    with FakeOpenAIServer(responder=lambda body: json.dumps(answer)) as server:
        judge = HLEJudge(base_url=server.base_url)
        summary = judge_predictions(judge, FAST, _pairs()[2:], tmp_path / "j.jsonl", progress=False)
    assert summary.judgments[0].confidence == 1.0


@pytest.mark.parametrize(("unparsed", "grade"), [("error", None), ("not_attempted", "not_attempted")])
@pytest.mark.parametrize("bad", ["not json", '{"correct": "maybe", "extracted_final_answer": "x"}',
                                 '{"correct": "yes", "extracted_final_answer": "x", "confidence": 150}'])
def test_an_output_that_does_not_validate_is_asked_again_then_judged_by_the_unparsed_policy(
        bad: str, unparsed: str, grade: str | None, tmp_path: Path) -> None:
    with FakeOpenAIServer(responder=lambda body: bad) as server:
        judge = HLEJudge(base_url=server.base_url, unparsed=unparsed)
        settings = JudgeSettings(max_error_rate=1.0, backoff_base=0.01)
        summary = judge_predictions(judge, settings, _pairs()[:1], tmp_path / "j.jsonl", progress=False)
        assert server.counters["received"] == 2  # asked once more, never a crash
    judgment = summary.judgments[0]
    assert judgment.grade == grade and judgment.raw == bad
    assert (judgment.error is None) == (grade is not None)
    if grade is None:
        assert judgment.error.startswith("structured output does not validate")


def model_or_judge(body: dict[str, Any]) -> str:
    """The served model answers item i with i (wrong for every third) at a confidence; the
    judge grades as HLE's does."""
    if "response_format" in body:
        return hle_grader(body)
    i = int(re.search(r"item (\d+)", FakeOpenAIServer.prompt_text(body)).group(1))
    answer = str(i + 1 if i % 3 == 0 else i)
    stated = "" if i % 10 == 0 else f"\nConfidence: {60 + 10 * (i % 4)}%"  # some state none
    return f"Explanation: I recall it.\n\nAnswer: {answer}{stated}"


def test_the_hle_recipe_runs_against_the_local_server(tmp_path: Path) -> None:
    data = tmp_path / "hle.jsonl"
    data.write_text("".join(json.dumps({"id": f"q{i:03d}", "question": f"What is the code of item {i}?",
                                        "answer": str(i)}) + "\n" for i in range(240)))
    with FakeOpenAIServer(responder=model_or_judge) as server:
        spec = ExperimentSpec(
            task="jsonl", model="served-model", backend="openai", extractor="verbalized", judge="hle",
            out=tmp_path / "run", progress=False, calibrators=(),
            overrides=(f"task.path={data}", "extractor.scale=percent", "extractor.on_missing=hle",
                       f"backend.base_url={server.base_url}", "backend.max_new_tokens=512",
                       f"judge.base_url={server.base_url}"))
        report = run_experiment(spec)
    row = report["rows"][0]
    assert row["counts"]["examples"] == 240 and row["counts"]["judge_errors"] == 0
    assert row["metrics"]["accuracy"]["value"] == pytest.approx(160 / 240)
    assert row["metrics"]["hle_calib_err"]["value"] > 0  # 240 answers: two bins, HLE's first one counts
    outcomes = [json.loads(line) for line in (tmp_path / "run" / row["outcomes"]).read_text().splitlines()]
    confidence = {o["example_id"]: o["confidence"] for o in outcomes}
    assert confidence["q010"] == 1.0 and confidence["q001"] == 0.7  # the judge's: none stated -> 100
    assert report["strategies"]["judge"]["name"] == "hle"
