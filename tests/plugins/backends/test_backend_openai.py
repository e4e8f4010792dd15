"""The ``openai`` backend against a real HTTP server on 127.0.0.1 speaking the OpenAI
schema (``tests/fake_openai_server.py``): tokens and log-probabilities come through, failing
and slow replies are retried, requests overlap, and what cannot be retried is one line."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest
from fake_openai_server import FakeOpenAIServer, split_tokens

from harness.errors import HarnessError, ParameterError
from harness.machinery import registry
from harness.plugins.backends.openai_backend import OpenAIBackend
from harness.strategies import GenerationRequest, ScoreRequest

CAPITALS = {"France": "Paris", "Italy": "Rome", "Norway": "Oslo", "Peru": "Lima"}


def answer(body: dict[str, Any]) -> str:
    prompt = FakeOpenAIServer.prompt_text(body)
    country = next(c for c in CAPITALS if c in prompt)
    return f" {CAPITALS[country]} City\nQuestion: and the next one?"


def requests(stop: tuple[str, ...] = ("\n",)) -> list[GenerationRequest]:
    return [
        GenerationRequest(example_id=c, prompt=f"Question: What is the capital of {c}?\nAnswer:", stop=stop)
        for c in CAPITALS
    ]


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def test_chat_answers_come_with_tokens_and_logprobs() -> None:
    with FakeOpenAIServer(responder=answer, logprob_fn=lambda i, token: -0.25 * (i + 1)) as server:
        backend = OpenAIBackend("served-model", base_url=server.base_url, max_new_tokens=12)
        generations = {g.example_id: g for g in backend.generate(requests(), progress=False)}
        bodies = server.bodies()
    france = generations["France"]
    assert (france.text, france.tokens, france.logprobs) == (
        " Paris City",
        [" Paris", " City"],
        [-0.25, -0.5],
    )
    assert (france.finish_reason, france.logprob_kind, france.backend, france.model) == (
        "stop",
        "processed",
        "openai",
        "served-model",
    )
    assert france.prompt == requests()[0].prompt
    assert {g.text for g in generations.values()} == {f" {c} City" for c in CAPITALS.values()}
    body = bodies[0]
    assert body["messages"][0]["role"] == "user" and body["messages"][0]["content"].startswith("Question:")
    limit = body["max_completion_tokens"]
    assert (body["model"], body["logprobs"], limit, body["temperature"], body["stop"]) == (
        "served-model",
        True,
        12,
        0.0,
        ["\n"],
    )
    assert "max_tokens" not in body  # deprecated for chat
    assert (body["top_p"], body["presence_penalty"], body["frequency_penalty"]) == (1.0, 0.0, 0.0)
    assert "repetition_penalty" not in body  # outside the OpenAI schema: only with server_sampling


def test_a_server_without_max_completion_tokens_gets_max_tokens() -> None:
    with FakeOpenAIServer(responder=answer, rejected_fields=["max_completion_tokens"]) as server:
        backend = OpenAIBackend("m", base_url=server.base_url, max_new_tokens=7, concurrency=1)
        generations = list(backend.generate(requests(), progress=False))
        bodies = server.bodies()
    assert all(g.error is None and g.text for g in generations)
    assert [("max_completion_tokens" in b, b.get("max_tokens")) for b in bodies] == [
        (True, None), *[(False, 7)] * len(CAPITALS)]  # refused once, then the old field throughout


def test_server_sampling_pins_vllm_serves_own_fields() -> None:
    with FakeOpenAIServer(responder=answer) as server:
        backend = OpenAIBackend("m", base_url=server.base_url, server_sampling=True, api="completions")
        list(backend.generate(requests()[:1], progress=False))
        (body,) = server.bodies()
    pinned = (body["repetition_penalty"], body["top_k"], body["min_p"], body["max_tokens"])
    assert pinned == (1.0, -1, 0.0, 64)


def test_the_legacy_completions_api() -> None:
    with FakeOpenAIServer(responder=answer, logprob_fn=lambda i, token: -0.1) as server:
        backend = OpenAIBackend("m", base_url=server.base_url, api="completions")
        (g, *_) = backend.generate(requests()[:1], progress=False)
        (body,) = server.bodies()
    assert (g.text, g.tokens, g.logprobs) == (" Paris City", [" Paris", " City"], [-0.1, -0.1])
    assert body["prompt"] == requests()[0].prompt and body["logprobs"] == 1


def test_a_server_that_ignores_stop_is_cut_here_and_eos_is_told_apart() -> None:
    """A whole response body (as a server that does not honour ``stop`` sends it), with
    vLLM's extra ``stop_reason`` (null: the model ended the sequence)."""

    def reply(body: dict[str, Any]) -> dict[str, Any]:
        pieces = [" Paris", "\n", "Question"] if "France" in FakeOpenAIServer.prompt_text(body) else [" Rome"]
        content = [
            {"token": t, "logprob": -0.5, "bytes": list(t.encode()), "top_logprobs": []} for t in pieces
        ]
        choice = {
            "index": 0,
            "finish_reason": "stop",
            "stop_reason": None,
            "message": {"role": "assistant", "content": "".join(pieces)},
            "logprobs": {"content": content},
        }
        return {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": [choice]}

    with FakeOpenAIServer(responder=reply) as server:
        backend = OpenAIBackend("m", base_url=server.base_url)
        generations = {g.example_id: g for g in backend.generate(requests()[:2], progress=False)}
    assert (generations["France"].text, generations["France"].tokens) == (" Paris", [" Paris"])
    assert generations["France"].finish_reason == "stop"
    assert (generations["Italy"].text, generations["Italy"].finish_reason) == (" Rome", "eos")


def test_llama_cpp_completions_logprobs_are_read() -> None:
    """llama.cpp's /v1/completions sends ``logprobs: {"content": [{"token", "logprob"}, ...]}``."""

    def reply(body: dict[str, Any]) -> dict[str, Any]:
        content = [{"id": 1, "token": t, "logprob": lp, "bytes": list(t.encode()), "top_logprobs": []}
                   for t, lp in ((" Paris", -0.1), (" City", -0.2), ("\n", -0.3))]
        choice = {"index": 0, "text": " Paris City\n", "finish_reason": "stop",
                  "logprobs": {"content": content}}
        return {"id": "x", "object": "text_completion", "created": 0, "model": "m", "choices": [choice]}

    with FakeOpenAIServer(responder=reply) as server:
        backend = OpenAIBackend("m", base_url=server.base_url, api="completions", logprob_kind="raw")
        (g,) = backend.generate(requests()[:1], progress=False)
    assert (g.text, g.tokens, g.logprobs) == (" Paris City", [" Paris", " City"], [-0.1, -0.2])
    assert g.logprob_kind == "raw"


def test_chat_logprobs_in_the_legacy_completions_shape_are_read() -> None:
    """llama-cpp-python's server has answered chat with ``logprobs: {"tokens", "token_logprobs",
    "top_logprobs", "text_offset"}`` (the completions shape, no ``content``): read it as that."""

    def reply(body: dict[str, Any]) -> dict[str, Any]:
        pieces = ((" Paris", -0.1), (" City", -0.2), ("\n", -0.3))
        legacy = {"tokens": [t for t, _ in pieces], "token_logprobs": [lp for _, lp in pieces],
                  "top_logprobs": [{t: lp, " Rome": lp - 1.0} for t, lp in pieces], "text_offset": [0, 6, 11]}
        message = {"role": "assistant", "content": " Paris City\n"}
        choice = {"index": 0, "finish_reason": "stop", "message": message, "logprobs": legacy}
        return {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": [choice]}

    with FakeOpenAIServer(responder=reply) as server:
        backend = OpenAIBackend("m", base_url=server.base_url, top_logprobs=2)
        (g,) = backend.generate(requests()[:1], progress=False)
    assert (g.text, g.tokens, g.logprobs) == (" Paris City", [" Paris", " City"], [-0.1, -0.2])
    assert g.entropies == pytest.approx([0.582203, 0.582203], abs=1e-6)  # two options 1 nat apart


def test_reasoning_tokens_are_left_out_of_the_answers_logprobs() -> None:
    """vllm serve --reasoning-parser: ``message.content`` is the answer alone, while
    ``logprobs.content`` covers the reasoning before it too."""

    def reply(body: dict[str, Any]) -> dict[str, Any]:
        pieces = [("<think>", -1.0), (" Paris", -2.0), (" maybe", -3.0), ("</think>", -4.0), (" Paris", -0.5),
                  (" City", -0.25)]
        content = [{"token": t, "logprob": lp, "bytes": list(t.encode()), "top_logprobs": []}
                   for t, lp in pieces]
        message = {"role": "assistant", "content": " Paris City", "reasoning_content": " Paris maybe"}
        choice = {"index": 0, "finish_reason": "stop", "message": message, "logprobs": {"content": content}}
        return {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": [choice]}

    with FakeOpenAIServer(responder=reply) as server:
        (g,) = OpenAIBackend("m", base_url=server.base_url).generate(requests()[:1], progress=False)
    assert (g.text, g.tokens, g.logprobs) == (" Paris City", [" Paris", " City"], [-0.5, -0.25])


@pytest.mark.parametrize("pieces", [["ĠParis", "ĠCity", "Ċ", "Question"], ["▁Paris", "▁City", "<0x0A>"]])
def test_raw_vocabulary_pieces_are_read_as_text(pieces: list[str]) -> None:
    """vLLM 0.8-0.9 servers send raw pieces in logprobs.content ("Ġred", "Ċ"): the answer's
    tokens must be its text, or the extractor counts a newline token as part of the answer."""

    def reply(body: dict[str, Any]) -> dict[str, Any]:
        content = [{"token": t, "logprob": -0.5, "bytes": list(t.encode()), "top_logprobs": []}
                   for t in pieces]
        message = {"role": "assistant", "content": " Paris City\nQuestion"}
        choice = {"index": 0, "finish_reason": "length", "message": message, "logprobs": {"content": content}}
        return {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": [choice]}

    with FakeOpenAIServer(responder=reply) as server:
        (g,) = OpenAIBackend("m", base_url=server.base_url).generate(requests()[:1], progress=False)
    assert (g.text, g.tokens) == (" Paris City", [" Paris", " City"])


def test_server_errors_are_retried() -> None:
    with FakeOpenAIServer(responder=answer) as server:
        server.fail_next(500, count=2, retry_after=0.01)
        server.fail_next(429, count=1, retry_after=0.01)
        backend = OpenAIBackend("m", base_url=server.base_url, concurrency=1, max_retries=5)
        generations = list(backend.generate(requests(), progress=False))
        counters = server.counters
    assert sorted(g.example_id for g in generations) == sorted(CAPITALS)
    assert all(g.error is None and g.text.endswith("City") for g in generations)
    assert (counters["failed"], counters["ok"]) == (3, 4)


def test_a_server_that_keeps_failing_stops_the_run_with_one_line() -> None:
    with FakeOpenAIServer(responder=answer) as server:
        server.fail_next(503, count=100, retry_after=0.01)
        backend = OpenAIBackend("m", base_url=server.base_url, concurrency=2, max_retries=2)
        with pytest.raises(HarnessError) as caught:
            list(backend.generate(requests(), progress=False))
    message = str(caught.value)
    assert "503" in message and "after 2 retries" in message and "\n" not in message


def test_a_rejected_request_is_a_failed_generation_and_the_run_goes_on() -> None:
    with FakeOpenAIServer(responder=answer) as server:
        server.fail_next(400)
        backend = OpenAIBackend("m", base_url=server.base_url, concurrency=1)
        generations = list(backend.generate(requests(), progress=False))
    failed = [g for g in generations if g.error]
    assert len(generations) == 4 and len(failed) == 1
    assert failed[0].error.startswith("400") and failed[0].text == "" and failed[0].tokens == []


def test_a_slow_reply_times_out_and_is_retried() -> None:
    with FakeOpenAIServer(responder=answer) as server:
        server.hang_next(1, seconds=5.0)
        backend = OpenAIBackend("m", base_url=server.base_url, concurrency=1, timeout=0.5, max_retries=2)
        started = time.monotonic()
        generations = list(backend.generate(requests()[:1], progress=False))
        elapsed = time.monotonic() - started
        counters = server.counters
    assert [g.text for g in generations] == [" Paris City"]
    assert counters["hung"] == 1 and counters["ok"] == 1
    assert elapsed < 4.0  # did not wait the hung request out


def test_a_server_that_never_answers_in_time_is_one_line() -> None:
    with FakeOpenAIServer(responder=answer) as server:
        server.hang_next(3, seconds=3.0)
        backend = OpenAIBackend("m", base_url=server.base_url, timeout=0.2, max_retries=1)
        with pytest.raises(HarnessError, match=r"did not answer within 0\.2 s"):
            list(backend.generate(requests()[:1], progress=False))


def test_requests_overlap_up_to_the_concurrency() -> None:
    many = [
        GenerationRequest(example_id=str(i), prompt=f"Capital of {c}?")
        for i, c in enumerate(list(CAPITALS) * 3)
    ]
    with FakeOpenAIServer(responder=answer, latency=0.3) as server:
        backend = OpenAIBackend("m", base_url=server.base_url, concurrency=4)
        started = time.monotonic()
        generations = list(backend.generate(many, progress=False))
        elapsed = time.monotonic() - started
        most = server.max_in_flight
    assert sorted(g.example_id for g in generations) == sorted(r.example_id for r in many)
    assert most == 4
    assert elapsed < 12 * 0.3 / 2  # one at a time would take 3.6 s


def test_key_from_the_environment_and_adapter_as_the_served_model(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeOpenAIServer(responder=answer, api_key="sk-right") as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-right")
        backend = OpenAIBackend("base-model", adapter="my-lora")
        (g,) = backend.generate(requests()[:1], progress=False)
        assert server.bodies()[0]["model"] == "my-lora"
        assert g.model == "base-model+my-lora"
        monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
        with pytest.raises(HarnessError, match="401"):
            list(OpenAIBackend("base-model").generate(requests()[:1], progress=False))


def test_no_key_and_no_server_of_ones_own_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(HarnessError, match="OPENAI_API_KEY"):
        list(OpenAIBackend("m").generate(requests()[:1], progress=False))


def test_registry_parameters_hold_no_key() -> None:
    params = registry.resolve_params("backend", "openai")
    assert not any("key" in name for name in params)
    with pytest.raises(ParameterError):
        OpenAIBackend("m", api="responses")


# -- the answer's tokens from token ids -------------------------------------------------------


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_token_ids_decoded_with_the_tokenizer_give_each_tokens_text(api: str,
                                                                   tiny_lm_path: Path) -> None:
    """A vLLM 0.8-0.9 server sends raw byte-level pieces ("Ġ" for a space, and "Ã", "¼" for the
    two bytes of "ü"), which no reading by pattern turns into text one token at a time. With the
    model's tokenizer the backend asks for token ids and decodes them, as hf and vllm do."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_lm_path)
    ids = tokenizer(" Zürich City", add_special_tokens=False)["input_ids"]
    with FakeOpenAIServer(responder=lambda body: " Zürich City\nQuestion", tokenizer=tokenizer) as server:
        by_pattern = next(OpenAIBackend("m", base_url=server.base_url, api=api)
                          .generate(requests()[:1], progress=False))
        backend = OpenAIBackend("m", base_url=server.base_url, api=api, tokenizer=str(tiny_lm_path))
        (g,) = backend.generate(requests()[:1], progress=False)
        body = server.bodies()[-1]
    assert {"Ã", "¼"} <= set(by_pattern.tokens)  # raw pieces, as sent: no text of their own
    assert body["return_tokens_as_token_ids"] is True
    assert g.text == " Zürich City"
    assert g.tokens == [tokenizer.decode([i]) for i in ids]  # the newline's token left out
    assert len(g.logprobs) == len(ids)


# -- beyond one greedy answer: samples, entropies, scores -------------------------------------


def numbered(body: dict[str, Any], index: int) -> str:
    return f"{answer(body).split(chr(10))[0]} {body.get('seed')}-{index}\nQuestion"


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_n_samples_in_one_request(api: str) -> None:
    sampling = [GenerationRequest(example_id=r.example_id, prompt=r.prompt, stop=("\n",), n=3,
                                  temperature=0.7, seed=5) for r in requests()]
    with FakeOpenAIServer(responder=numbered) as server:
        backend = OpenAIBackend("m", base_url=server.base_url, api=api)
        got = {g.example_id: g for g in backend.generate(sampling, progress=False)}
        bodies = server.bodies()
    assert len(bodies) == len(CAPITALS)  # one request per prompt
    assert {(b["n"], b["temperature"], b["seed"]) for b in bodies} == {(3, 0.7, 5)}
    assert got["France"].samples == [" Paris City 5-0", " Paris City 5-1", " Paris City 5-2"]
    assert got["France"].text == got["France"].samples[0] and got["France"].error is None
    assert got["France"].tokens == [" Paris", " City", " 5", "-", "0"]


def test_a_server_that_ignores_n_fails_the_request_with_one_line() -> None:
    def one_choice(body: dict[str, Any]) -> dict[str, Any]:
        choice = {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": " Paris"}}
        return {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": [choice]}

    with FakeOpenAIServer(responder=one_choice) as server:
        (g,) = OpenAIBackend("m", base_url=server.base_url).generate(
            [GenerationRequest(example_id="France", prompt="?", n=4, temperature=1.0)], progress=False)
    assert g.error == "asked for 4 samples (n), the server sent 1"


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_entropies_from_the_top_logprobs(api: str) -> None:
    """The fake server's top log-probabilities are the chosen token's lp and lp - 2, lp - 4:
    the entropy is that of those three, renormalised."""
    with FakeOpenAIServer(responder=answer, logprob_fn=lambda i, token: -0.3) as server:
        backend = OpenAIBackend("m", base_url=server.base_url, api=api, top_logprobs=3)
        (g,) = backend.generate(requests()[:1], progress=False)
        (body,) = server.bodies()
    weights = [math.exp(-0.3 - 2.0 * k) for k in range(3)]
    want = -sum(w / sum(weights) * math.log(w / sum(weights)) for w in weights)
    assert g.entropies == pytest.approx([want, want])
    assert body.get("top_logprobs", body.get("logprobs")) == 3
    assert "entropies" in backend.capabilities
    assert "entropies" not in OpenAIBackend("m", base_url="http://127.0.0.1:9/v1", api=api).capabilities


def test_scores_come_from_the_echoed_prompt_by_text_offsets() -> None:
    prompt = "Question: What is the capital of France?\nAnswer:"
    n_prompt = len(split_tokens(prompt))
    with FakeOpenAIServer(responder=lambda body: " X", logprob_fn=lambda i, token: -0.1 * (i + 1)) as server:
        backend = OpenAIBackend("m", base_url=server.base_url, api="completions")
        (scores,) = backend.score([ScoreRequest(example_id="France", prompt=prompt,
                                                continuations=(" Paris", " Rome City"))], progress=False)
        (body,) = server.bodies()
    assert (body["echo"], body["logprobs"]) == (True, 1)
    assert body["prompt"] == [prompt + " Paris", prompt + " Rome City"]
    assert scores.error is None and scores.continuations == [" Paris", " Rome City"]
    paris, rome_city = -0.1 * (n_prompt + 1), -0.1 * (n_prompt + 1) - 0.1 * (n_prompt + 2)
    assert scores.logprobs == pytest.approx([paris, rome_city])


def test_a_token_across_the_prompts_end_is_that_examples_error() -> None:
    with FakeOpenAIServer(responder=lambda body: " X") as server:
        backend = OpenAIBackend("m", base_url=server.base_url, api="completions")
        asked = ScoreRequest(example_id="e", prompt="Capital: Par", continuations=("is", " x"))
        (scores,) = backend.score([asked], progress=False)
    assert scores.logprobs[0] is None and scores.logprobs[1] == pytest.approx(-0.1)
    assert scores.error.startswith("a token of the server spans the end of the prompt")


def test_a_server_without_echoed_logprobs_cannot_score_and_says_so() -> None:
    def no_logprobs(body: dict[str, Any]) -> dict[str, Any]:
        choices = [{"index": i, "text": p + " X", "finish_reason": "length", "logprobs": None}
                   for i, p in enumerate(body["prompt"])]
        return {"id": "x", "object": "text_completion", "created": 0, "model": "m", "choices": choices}

    with FakeOpenAIServer(responder=no_logprobs) as server:
        backend = OpenAIBackend("m", base_url=server.base_url, api="completions")
        (scores,) = backend.score([ScoreRequest(example_id="e", prompt="Q:", continuations=(" A", " B"))],
                                  progress=False)
    assert scores.logprobs == [None, None]
    assert scores.error == ("the server sent no log-probabilities of the prompt (echo with logprobs): "
                            "cannot score")


def test_chat_cannot_score_and_its_capabilities_say_so() -> None:
    backend = OpenAIBackend("m", base_url="http://127.0.0.1:9/v1")
    assert backend.capabilities == {"logprobs", "samples"}
    assert "scores" in OpenAIBackend("m", base_url="http://127.0.0.1:9/v1", api="completions").capabilities
    with pytest.raises(ParameterError, match=r"^the openai backend scores through /v1/completions .* "
                                             r"set -p backend\.api=completions$"):
        list(backend.score([ScoreRequest(example_id="e", prompt="Q", continuations=(" A",))], progress=False))


@pytest.mark.parametrize(("n", "temperature", "message"), [
    (0, 1.0, r"^a request's n \(samples\) must be at least 1, not 0$"),
    (2, 0.0, r"^2 samples need a temperature above 0, not 0\.0$"),
])
def test_bad_sampling_requests_are_one_line_before_any_request(n: int, temperature: float,
                                                               message: str) -> None:
    with FakeOpenAIServer(responder=answer) as server:
        backend = OpenAIBackend("m", base_url=server.base_url)
        bad = [*requests(), GenerationRequest(example_id="x", prompt="?", n=n, temperature=temperature)]
        with pytest.raises(ParameterError, match=message):
            list(backend.generate(bad, progress=False))
        assert server.counters.get("received", 0) == 0
