"""The fake OpenAI/Gemini server that API-backed strategies are tested against speaks the
schema the real SDKs expect, and injects the faults it promises."""

from __future__ import annotations

import time

import openai
import pytest
from fake_openai_server import FakeOpenAIServer, split_tokens


def _chat(client: openai.OpenAI, **kwargs):  # type: ignore[no-untyped-def]
    return client.chat.completions.create(
        model="judge-x", messages=[{"role": "user", "content": "What is the capital of France?"}], **kwargs
    )


def test_chat_completion_with_logprobs_and_usage() -> None:
    server = FakeOpenAIServer(responder=lambda body: "Paris, France.", logprob_fn=lambda i, t: -0.5 * i)
    with server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
        reply = _chat(client, logprobs=True, top_logprobs=2)
    choice = reply.choices[0]
    assert choice.message.content == "Paris, France."
    assert choice.finish_reason == "stop"
    tokens = [t.token for t in choice.logprobs.content]
    assert "".join(tokens) == "Paris, France."
    assert [t.logprob for t in choice.logprobs.content] == [-0.5 * i for i in range(len(tokens))]
    assert choice.logprobs.content[0].top_logprobs[0].token == "Paris"
    assert reply.usage.completion_tokens == len(tokens)
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + len(tokens)


def test_legacy_completion_logprobs_stop_and_max_tokens() -> None:
    with FakeOpenAIServer(responder=lambda body: "Rome is big. Really.") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
        stopped = client.completions.create(model="m", prompt="Q", logprobs=1, stop=["."])
        cut = client.completions.create(model="m", prompt="Q", max_tokens=2)
    assert stopped.choices[0].text == "Rome is big"
    assert stopped.choices[0].logprobs.tokens == ["Rome", " is", " big"]
    assert stopped.choices[0].logprobs.token_logprobs == [-0.1, -0.1, -0.1]
    assert (cut.choices[0].text, cut.choices[0].finish_reason) == ("Rome is", "length")


def test_scripted_429_carries_retry_after_then_recovers() -> None:
    with FakeOpenAIServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
        server.fail_next(429, count=1, retry_after=0.25)
        server.fail_next(500)
        with pytest.raises(openai.RateLimitError) as limited:
            _chat(client)
        with pytest.raises(openai.InternalServerError):
            _chat(client)
        assert _chat(client).choices[0].message.content == "OK"
        assert limited.value.response.headers["Retry-After"] == "0.25"
        assert server.counters["failed"] == 2 and server.counters["ok"] == 1


def test_hung_request_times_out_the_client() -> None:
    with FakeOpenAIServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=0.2)
        server.hang_next(1, seconds=5)
        start = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            _chat(client)
        assert time.monotonic() - start < 2
        assert _chat(client).choices[0].message.content == "OK"  # only the next one hung


def test_random_failures_are_reproducible_with_a_seed() -> None:
    def statuses(seed: int) -> list[int | None]:
        with FakeOpenAIServer(failure_rate=0.5, seed=seed) as server:
            client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
            for _ in range(12):
                try:
                    _chat(client)
                except openai.APIStatusError:
                    pass
            return [r.status for r in server.requests]

    first = statuses(3)
    assert first == statuses(3)
    assert 500 in first and 200 in first


def test_wrong_key_is_refused_and_headers_are_logged() -> None:
    with FakeOpenAIServer(api_key="right") as server:
        with pytest.raises(openai.AuthenticationError):
            _chat(openai.OpenAI(base_url=server.base_url, api_key="wrong", max_retries=0))
        _chat(openai.OpenAI(base_url=server.base_url, api_key="right", max_retries=0))
        assert [r.status for r in server.requests] == [401, 200]
        assert server.requests[1].headers["authorization"] == "Bearer right"
        assert server.bodies()[1]["model"] == "judge-x"


def test_gemini_generate_content_route() -> None:
    from google import genai
    from google.genai import types

    with FakeOpenAIServer(responder=lambda body: f"echo: {FakeOpenAIServer.prompt_text(body)}") as server:
        client = genai.Client(api_key="test", http_options=types.HttpOptions(base_url=server.root_url))
        reply = client.models.generate_content(model="gemini-x", contents="hello")
    assert reply.text == "echo: hello"
    assert reply.usage_metadata.total_token_count == 1 + 3  # "hello" + "echo", ":", " hello"
    assert server.requests[0].path.endswith("/models/gemini-x:generateContent")


def test_split_tokens_round_trips() -> None:
    text = "  It's 1,000 km.\nDone "
    assert "".join(split_tokens(text)) == text
