"""``harness serve``: the real ``openai`` client against the bundle's endpoint, in front of an upstream
OpenAI-compatible server (tests/fake_openai_server.py, as the backend tests use it) and of the local
tiny model; the calibrated confidence in ``calibration``, a flagged refusal below the threshold, and
the refusals of what it does not serve."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from fake_openai_server import FakeOpenAIServer
from using_fixtures import calibrated
from web_helpers import request

from harness.testing import run_harness
from harness.using.bundle import FILE, FORMAT
from harness.using.export import export_run
from harness.using.serve import REFUSAL, make_server

CAPITALS = {"France": "Paris", "Peru": "Lima"}
SLOPE, INTERCEPT, THRESHOLD = 1.0, -1.0, 0.5


def answer(body: dict[str, Any]) -> str:
    prompt = FakeOpenAIServer.prompt_text(body)
    return " " + next((city for country, city in CAPITALS.items() if country in prompt), "Nowhere")


def logprob(index: int, token: str) -> float:
    return -0.01 if token.strip() in CAPITALS.values() else -2.0  # sure of a capital, unsure of the rest


def write_bundle(folder: Path, base_url: str, **backend: Any) -> Path:
    """A bundle by hand, field by field as docs say: an upstream model, Platt's map, a threshold."""
    folder.mkdir()
    (folder / FILE).write_text(json.dumps({
        "format": FORMAT,
        "model": {"reference": "served-model", "resolved": "served-model", "adapter": None,
                  "trained_by": None},
        "backend": {"name": "openai", "params": {"base_url": base_url, "max_new_tokens": 8, **backend}},
        "extractor": {"name": "logprob", "params": {"aggregation": "mean_prob"}},
        "counting": {"not_attempted": "incorrect", "missing_confidence": 1.0},
        "calibrator": {"calibrator": "platt", "params": {}, "n": 100,
                       "fitted": {"slope": SLOPE, "intercept": INTERCEPT}},
        "threshold": {"threshold": THRESHOLD, "alpha": 0.1, "delta": 0.1, "n": 100, "answered": 60,
                      "errors": 2},
        "sets": {}, "source": {"row": "baseline + platt"},
    }))
    return folder


def calibrated_confidence(raw: float) -> float:
    return 1 / (1 + math.exp(-(SLOPE * math.log(raw / (1 - raw)) + INTERCEPT)))


@pytest.fixture()
def upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-upstream")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with FakeOpenAIServer(responder=answer, logprob_fn=logprob) as server:
        yield server


def serving(bundle: Path, **options: Any) -> Any:
    server = make_server(bundle, port=0, **options)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def stop(server: Any) -> None:
    server.shutdown()
    server.server_close()


@pytest.fixture()
def served(upstream: FakeOpenAIServer, tmp_path: Path) -> Iterator[Any]:
    server = serving(write_bundle(tmp_path / "capitals", upstream.base_url, max_retries=0))
    yield server
    stop(server)


def client(server: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"http://127.0.0.1:{server.server_address[1]}/v1", api_key="unused",
                         max_retries=0)


def ask(server: Any, question: str) -> Any:
    return client(server).chat.completions.create(
        model="capitals", messages=[{"role": "system", "content": "Be brief."},
                                    {"role": "user", "content": question}])


def test_a_confident_answer_comes_with_its_calibrated_confidence(served, upstream):
    reply = ask(served, "What is the capital of France?")
    assert reply.choices[0].message.content == "Paris" and reply.choices[0].message.refusal is None
    calibration = reply.model_extra["calibration"]
    assert calibration["raw_confidence"] == pytest.approx(math.exp(-0.01))
    assert calibration["confidence"] == pytest.approx(calibrated_confidence(math.exp(-0.01)))
    assert calibration["abstained"] is False and calibration["threshold"] == THRESHOLD
    prompt = FakeOpenAIServer.prompt_text(upstream.bodies()[-1])
    assert prompt.startswith("Question: What is the capital of France?")  # the extractor's prompt upstream


def test_below_the_threshold_the_answer_is_withheld_as_a_flagged_refusal(served):
    reply = ask(served, "What is the capital of Atlantis?")
    message, calibration = reply.choices[0].message, reply.model_extra["calibration"]
    assert message.content is None and message.refusal == REFUSAL
    assert calibration["abstained"] is True
    assert calibration["confidence"] == pytest.approx(calibrated_confidence(math.exp(-2.0)))
    assert calibration["confidence"] < THRESHOLD


def test_the_models_route_lists_the_bundle(served):
    assert [m.id for m in client(served).models.list().data] == ["capitals"]


def test_a_failing_upstream_is_a_502_in_openais_error_shape(served, upstream):
    upstream.fail_next(500, count=5)
    with pytest.raises(openai.APIStatusError) as caught:
        ask(served, "What is the capital of Peru?")
    assert caught.value.status_code == 502 and "Traceback" not in caught.value.message


@pytest.mark.parametrize("body, words", [
    (b"{not json", "not JSON"),
    (b'{"messages": "hi"}', "list of messages"),
    (b'{"messages": [{"role": "system", "content": "x"}]}', "no user message"),
    (b'{"messages": [{"role": "user", "content": "q"}], "stream": true}', "streaming"),
])
def test_a_body_that_is_no_chat_request_is_a_400_saying_why(served, body, words):
    status, _, reply = request(served.server_address[1], "POST", "/v1/chat/completions", body=body)
    assert status == 400 and words in json.loads(reply)["error"]["message"]


def test_another_host_method_or_route_is_refused(served):
    port = served.server_address[1]
    assert request(port, "POST", "/v1/chat/completions", host="evil.example", body=b"{}")[0] == 403
    status, headers, _ = request(port, "DELETE", "/v1/models")
    assert status == 405 and headers["Allow"] == "GET, POST"
    assert request(port, "GET", "/v1/chat/completions")[0] == 404
    assert request(port, "POST", "/v1/embeddings", body=b"{}")[0] == 404


def test_serving_no_bundle_is_one_line_and_exit_2(tmp_path):
    result = run_harness("serve", str(tmp_path / "missing"), "--port", "0", fresh_interpreter=True)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "no such bundle" in result.stderr


@pytest.mark.integration
@pytest.mark.slow
def test_a_bundle_of_the_local_tiny_model_answers_as_the_run_did(tmp_path_factory, tmp_path):
    run = calibrated(tmp_path_factory)
    export_run(run, "baseline + isotonic", tmp_path / "bundle", alpha=0.3)
    server = serving(tmp_path / "bundle")
    try:
        example = json.loads((run / "examples.jsonl").read_text().splitlines()[0])
        reply = ask(server, example["question"])
    finally:
        stop(server)
    predicted = {json.loads(line)["example_id"]: json.loads(line) for line in
                 (run / "baseline/logprob/test/predictions.jsonl").read_text().splitlines()}[example["id"]]
    calibration = reply.model_extra["calibration"]
    assert calibration["raw_confidence"] == pytest.approx(predicted["confidence"], abs=1e-5)
    given = reply.choices[0].message.content
    assert given == (None if calibration["abstained"] else predicted["answer"])


def test_predict_answers_with_another_backend_the_user_names(upstream, tmp_path):
    bundle = write_bundle(tmp_path / "local", "unused")
    saved = json.loads((bundle / FILE).read_text())
    saved["backend"] = {"name": "hf", "params": {}}  # made on a local model this machine does not have
    saved["model"]["reference"] = str(tmp_path / "no-such-model")
    (bundle / FILE).write_text(json.dumps(saved))
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "fr", "question": "What is the capital of France?", "answer": "?"}\n'
                         '{"id": "at", "question": "What is the capital of Atlantis?", "answer": "?"}\n')
    result = run_harness("predict", str(bundle), str(questions), "--out", str(tmp_path / "a.jsonl"),
                         "--backend", "openai", "--model", "served-model",
                         "-p", f"backend.base_url={upstream.base_url}")
    assert result.returncode == 0, result.stderr
    assert "2 questions (0 already there), 1 answered, 1 abstained" in result.stdout
    answers = {r["id"]: r for r in map(json.loads, (tmp_path / "a.jsonl").read_text().splitlines())}
    assert (answers["fr"]["answer"], answers["fr"]["abstain"]) == ("Paris", False)
    assert answers["at"]["abstain"] is True
    assert {b["model"] for b in upstream.bodies()} == {"served-model"}
