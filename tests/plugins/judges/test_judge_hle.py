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

from harness.judging import judge_predictions
from harness.judging.settings import JudgeSettings
from harness.plugins.judges.hle_judge import HLEJudge
from harness.records import Example, Prediction
from harness.running.experiment import ExperimentSpec, run_experiment


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def _field(prompt: str, name: str) -> str:
    return re.search(rf"\[{name}\]: (.*?)(?:\n\n|\Z)", prompt, re.DOTALL).group(1)


def shown_response(prompt: str) -> str:
    """The [response] of a judge prompt: everything between it and the fields' instructions."""
    return re.search(r"\[response\]: (.*?)\n\nFill in the fields", prompt, re.DOTALL).group(1)


def hle_grader(body: dict[str, Any]) -> str:
    """A judge that follows HLE's instructions: it reads the whole response for its *final*
    answer (the last "Answer:", the value on the next line when the label stands alone) and
    the confidence stated with it; a strict match; the stated confidence or null."""
    prompt = FakeOpenAIServer.prompt_text(body)
    response, gold = shown_response(prompt), _field(prompt, "correct_answer")
    answer = re.findall(r"Answer:\**[ \t]*\n?[ \t]*(.+)", response)[-1].strip()
    stated = re.search(r"Confidence: ([\d.]+)%\s*\Z", response)
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
    assert schema["schema"]["required"] == ["extracted_final_answer", "reasoning", "correct", "confidence",
                                            "strict"]
    assert "temperature" not in judge.verdict_settings  # none is sent, so none keys a verdict
    prompt = body["messages"][0]["content"]
    # HLE's order: question, response, the extracted answer's instruction, then the correct answer
    order = ["[question]:", "[response]:", "extracted_final_answer:", "[correct_answer]:", "reasoning:",
             "correct:", "confidence:", "strict:"]
    assert [prompt.index(x) for x in order] == sorted(prompt.index(x) for x in order)
    assert "Do not comment on any background" in prompt
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


ORDINARY_REPLIES = [  # (the model's whole response, the gold answer, grade, confidence)
    ("Explanation: One candidate answer: Lyon, but the capital is Paris.\nAnswer: Paris\nConfidence: 80%",
     "Paris", "correct", 0.8),
    ("Explanation: it is the answer to everything.\n**Answer:**\n42\nConfidence: 90%", "42", "correct", 0.9),
    ("Explanation: my confidence: high, I checked twice.\nAnswer: 41\nConfidence: 35%", "42",
     "incorrect", 0.35),
]


@pytest.mark.parametrize(("response", "gold", "grade", "confidence"), ORDINARY_REPLIES)
def test_the_judge_reads_the_whole_response_and_extracts_the_answer_itself(
        response: str, gold: str, grade: str, confidence: float, tmp_path: Path) -> None:
    example = Example(id="e", question="Q?", answer=gold)
    # an extractor's reading of such a reply can be wrong; the judge never sees it
    misread = Prediction(example_id="e", answer="Lyon, but the capital is Paris.", confidence=1.0)
    with FakeOpenAIServer(responder=hle_grader) as server:
        judge = HLEJudge(base_url=server.base_url)
        summary = judge_predictions(judge, FAST, [(example, misread)], tmp_path / "j.jsonl",
                                    responses={"e": response}, progress=False)
        assert shown_response(FakeOpenAIServer.prompt_text(server.bodies()[0])) == response
    judgment = summary.judgments[0]
    assert (judgment.grade, judgment.confidence) == (grade, confidence)


def test_the_same_answer_with_another_stated_confidence_is_judged_again_not_served_from_the_cache(
        tmp_path: Path) -> None:
    """A trained model that gives the baseline's answer at 60% gets its own 60% back, not the
    baseline's 95%: the judge reads the response, so the response keys its verdict."""
    example = Example(id="e", question="Who wrote Hamlet?", answer="William Shakespeare")
    prediction = Prediction(example_id="e", answer="William Shakespeare", confidence=None)
    baseline = "Explanation: a play.\nAnswer: William Shakespeare\nConfidence: 95%"
    trained = "Explanation: a play.\nAnswer: William Shakespeare\nConfidence: 60%"
    with FakeOpenAIServer(responder=hle_grader) as server:
        judge = HLEJudge(base_url=server.base_url)
        first = judge_predictions(judge, FAST, [(example, prediction)], tmp_path / "base.jsonl", name="hle",
                                  responses={"e": baseline}, progress=False)
        # the same folder too: resume keeps a verdict only for the input it was given
        again = judge_predictions(judge, FAST, [(example, prediction)], tmp_path / "base.jsonl", name="hle",
                                  responses={"e": trained}, progress=False)
        assert server.counters["received"] == 2
    assert first.judgments[0].confidence == 0.95
    assert (again.judgments[0].confidence, again.judgments[0].cached, again.resumed) == (0.6, False, 0)


def test_an_empty_reply_is_retried_then_a_judge_error_never_cached(tmp_path: Path) -> None:
    with FakeOpenAIServer(responder=lambda body: "") as server:
        judge = HLEJudge(base_url=server.base_url)
        settings = JudgeSettings(max_error_rate=1.0, backoff_base=0.01, backoff_max=0.02, max_attempts=3)
        summary = judge_predictions(judge, settings, _pairs()[:1], tmp_path / "j.jsonl", name="hle",
                                    progress=False)
        assert server.counters["received"] == 3  # the runner's attempts
    judgment = summary.judgments[0]
    assert judgment.grade is None and "empty grader reply" in judgment.error
    from harness.judging.cache import JudgeCache

    with JudgeCache() as cache:
        assert len(cache) == 0


def model_or_judge(body: dict[str, Any]) -> str:
    """The served model answers item i with i (wrong for every third) at a confidence; the
    judge grades as HLE's does."""
    if "response_format" in body:
        if "item 5?" in FakeOpenAIServer.prompt_text(body):
            return "no verdict"  # item 5 stays unjudged
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
    assert row["counts"]["examples"] == 240 and row["counts"]["judge_errors"] == 1
    # the calibration metrics see the judged answers; HLE's accuracy counts the unjudged one wrong
    assert row["metrics"]["accuracy"]["value"] == pytest.approx(159 / 239)
    assert row["hle_accuracy"]["value"] == pytest.approx(159 / 240)
    assert (row["hle_accuracy"]["percent"], row["hle_accuracy"]["unjudged"]) == (66.25, 1)
    assert "HLE's accuracy (every question; an unjudged one counts wrong)" in (tmp_path / "run" / "report.md"
                                                                              ).read_text()
    assert row["metrics"]["hle_calib_err"]["value"] > 0  # 240 answers: two bins, HLE's first one counts
    outcomes = [json.loads(line) for line in (tmp_path / "run" / row["outcomes"]).read_text().splitlines()]
    confidence = {o["example_id"]: o["confidence"] for o in outcomes}
    assert confidence["q010"] == 1.0 and confidence["q001"] == 0.7  # the judge's: none stated -> 100
    assert report["strategies"]["judge"]["name"] == "hle"
