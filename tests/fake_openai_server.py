"""A real HTTP server on 127.0.0.1 that speaks the OpenAI (and Gemini) REST schema, for tests.

Tests and benchmarks of every API-backed strategy (the ``openai`` backend, the ``openai``
and ``gemini`` judges) point a real SDK client at it instead of patching the client, so
the whole path — serialisation, HTTP, retries, timeouts — is exercised.

Usage::

    from fake_openai_server import FakeOpenAIServer

    with FakeOpenAIServer(responder=lambda body: "Paris", latency=0.01) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
        ...
        server.fail_next(429, count=2, retry_after=0.05)   # next two requests: 429 + Retry-After
        server.fail_next(500)                              # then one 500
        server.hang_next(1, seconds=5)                     # then one request that hangs 5 s
        assert server.counters["received"] == ...
        bodies = [r.body for r in server.requests]

Constructor (every argument is keyword-only and also a settable attribute):

- ``responder(body) -> str | dict``: called with the parsed JSON request body. A ``str`` is
  the assistant's text (the server wraps it in the schema of the route); a ``dict`` is sent
  as the whole response body, unchanged. Default: answers ``default_text`` (``"OK"``). A
  responder that takes two arguments is called ``responder(body, index)`` for each of the
  ``n`` choices (``index`` 0 to n-1: samples that differ).
- ``tokenizer``: a Hugging Face tokenizer; when set, replies are split into its tokens and
  sent as vLLM 0.8-0.9 servers send them: raw vocabulary pieces (``"ĠParis"``, ``"Ċ"``) in
  ``token``/``tokens``/``bytes``/``top_logprobs``, ``text_offset`` summing the pieces'
  lengths, and ``"token_id:N"`` instead when the request has ``return_tokens_as_token_ids``.
  ``FakeOpenAIServer.prompt_text(body)`` extracts the prompt text from a body of any route.
- ``logprob_fn(token_index, token) -> float``: the log-probability of each generated token
  (default ``-0.1``), used when the request asks for log-probabilities.
- ``latency``: seconds every request waits before answering (float, default 0).
- ``failure_rate`` / ``failure_statuses`` / ``seed``: each request fails at random with this
  probability (seeded ``random.Random``), with a status drawn from ``failure_statuses``
  (default ``(500,)``); a drawn 429 carries ``Retry-After: random_retry_after``.
- ``model``: the model name echoed in responses (default: the request's ``model``).
- ``api_key``: when set, a request whose ``Authorization: Bearer`` / ``x-goog-api-key``
  header differs gets a 401.
- ``rejected_fields``: request fields this server does not know; a body with one gets a 400
  "Unrecognized request argument supplied: NAME", as strict servers answer.

Routes:

- ``POST /v1/chat/completions``: ``choices[i].message.content``; with ``"logprobs": true``
  ``choices[i].logprobs.content = [{"token", "logprob", "bytes", "top_logprobs"}, ...]``
  (``top_logprobs`` has ``top_logprobs`` entries when asked, the chosen token first).
- ``POST /v1/completions``: ``choices[i].text``; with ``"logprobs": K`` (an int, the legacy
  shape) ``choices[i].logprobs = {"tokens", "token_logprobs", "top_logprobs", "text_offset"}``
  (``top_logprobs``: K entries, the chosen token first). A list of prompts gets ``n`` choices
  per prompt (``index`` = prompt x n + sample). ``"echo": true`` puts the prompt before the
  reply, in the text and the log-probabilities (the first token's is ``null``, as servers do).
- ``POST /{version}/models/{model}:generateContent`` (Gemini, as ``google-genai`` sends it
  with ``HttpOptions(base_url=server.root_url)``): ``candidates[0].content.parts[0].text``
  and ``usageMetadata``.
- ``GET /v1/models``: one model.

Both OpenAI routes honour ``n``, ``max_tokens`` / ``max_completion_tokens`` (the text is cut
to that many tokens, ``finish_reason = "length"``) and ``stop`` (cut before the first stop
string, ``finish_reason = "stop"``), and report ``usage`` (``prompt_tokens``,
``completion_tokens``, ``total_tokens``). Tokens are the text split into whitespace-led
pieces (``" Paris"``, ``","``...), whose concatenation is exactly the text.

Faults, applied in this order to each request after it is logged:

- ``hang_next(count=1, seconds=30.0)``: the next ``count`` requests wait ``seconds`` (or
  until the server stops) before answering normally — a client timeout fires first. With
  ``seconds=None`` each waits for an event instead of a clock: the client giving up (it
  closes the connection), and only then answers, into the closed connection; no machine is
  too slow for that answer to come late, so a test can count timeouts exactly.
- ``fail_next(status, count=1, retry_after=None)``: the next ``count`` requests answer
  ``status`` with an error body in the route's schema; ``retry_after`` (seconds) adds
  ``Retry-After`` and ``retry-after-ms`` headers.
- the random ``failure_rate``, then ``latency``.

Run ``python tests/fake_openai_server.py --latency 0.2 --responder MODULE:FUNC`` to serve
from a process of its own (it prints the port, then serves until its stdin closes).

Observation (all thread-safe):

- ``requests``: a copy of the log, ``RecordedRequest`` with ``method``, ``path``,
  ``headers`` (lower-case names), ``body``, ``status``, ``time``, ``fault`` and ``gave_up``
  (the client had closed the connection before the answer was sent); ``bodies()``;
- ``counters``: a copy of ``received``, ``ok``, ``failed``, ``hung``, ``unauthorized``,
  ``path:<path>`` per route, and ``incomplete`` (requests cut off before their whole body
  arrived, e.g. by a killed client: answered 400 and not logged);
- ``in_flight`` (requests being handled now) and ``max_in_flight`` (the most at once);
- ``reset()`` clears the log, the counters and pending faults.
"""

from __future__ import annotations

import inspect
import json
import math
import random
import re
import select
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[dict[str, Any]], "str | dict[str, Any]"]
_TOKEN = re.compile(r"\s*[\w']+|\s*[^\w\s]|\s+")
_GEMINI = re.compile(r"^/(?:[^/]+/)*models/(?P<model>[^/:]+):generateContent$")


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    time: float
    status: int | None = None  # set once the answer is sent
    fault: str | None = None  # "hang", "fail", "random" or None
    gave_up: bool = False  # the client closed the connection before the answer was sent


@dataclass
class _Faults:
    hangs: deque[float] = field(default_factory=deque)
    failures: deque[tuple[int, float | None]] = field(default_factory=deque)


def split_tokens(text: str) -> list[str]:
    """Whitespace-led word and punctuation pieces whose concatenation is ``text``."""
    return _TOKEN.findall(text)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # a deep listen backlog: many clients connect at once
    owner: FakeOpenAIServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real API servers
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr
        pass

    def do_GET(self) -> None:  # noqa: N802
        if self.path.rstrip("/").endswith("/models"):
            self._send(200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})
        else:
            self._send(404, _openai_error(404, f"no route {self.path}"))

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not length or len(raw) < length:  # the client died mid-request: nothing was asked
            self.server.owner._count("incomplete")
            self.close_connection = True
            self._send(400, _openai_error(400, "incomplete request"))
            return
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            self._send(400, _openai_error(400, "body is not JSON"))
            return
        self.server.owner._handle(self, body)

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True  # the client gave up (e.g. timed out on a hang)


class FakeOpenAIServer:
    """An OpenAI-compatible (and Gemini ``generateContent``) server with injectable faults."""

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        default_text: str = "OK",
        logprob_fn: Callable[[int, str], float] | None = None,
        latency: float = 0.0,
        failure_rate: float = 0.0,
        failure_statuses: Sequence[int] = (500,),
        random_retry_after: float | None = 0.01,
        seed: int = 0,
        model: str | None = None,
        api_key: str | None = None,
        rejected_fields: Sequence[str] = (),
        tokenizer: Any = None,
    ) -> None:
        self.responder = responder
        self.tokenizer = tokenizer
        self.rejected_fields = tuple(rejected_fields)
        self.default_text = default_text
        self.logprob_fn = logprob_fn
        self.latency = latency
        self.failure_rate = failure_rate
        self.failure_statuses = tuple(failure_statuses)
        self.random_retry_after = random_retry_after
        self.model = model
        self.api_key = api_key
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._faults = _Faults()
        self._log: list[RecordedRequest] = []
        self._counters: Counter[str] = Counter()
        self._in_flight = 0
        self._max_in_flight = 0
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()  # wakes hung and slow requests
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the fake server is not running")
        return int(self._httpd.server_address[1])

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT`` (the Gemini SDK's ``base_url``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` (the OpenAI SDK's ``base_url``)."""
        return f"{self.root_url}/v1"

    # -- faults ------------------------------------------------------------------------------

    def fail_next(self, status: int, count: int = 1, retry_after: float | None = None) -> None:
        """The next ``count`` requests answer ``status`` (429 with ``retry_after`` seconds)."""
        with self._lock:
            self._faults.failures.extend([(status, retry_after)] * count)

    def hang_next(self, count: int = 1, seconds: float | None = 30.0) -> None:
        """The next ``count`` requests wait ``seconds`` (or until stop), or with ``None`` until
        the client gives up, before answering."""
        with self._lock:
            self._faults.hangs.extend([math.inf if seconds is None else seconds] * count)

    def reset(self) -> None:
        with self._lock:
            self._faults = _Faults()
            self._log.clear()
            self._counters.clear()
            self._max_in_flight = self._in_flight

    # -- observation -------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._log)

    def bodies(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests]

    @property
    def counters(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counters)

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        with self._lock:
            return self._max_in_flight

    @staticmethod
    def prompt_text(body: dict[str, Any]) -> str:
        """The prompt of a request body of any route (chat messages joined by newlines)."""
        if "messages" in body:
            parts = []
            for message in body["messages"]:
                content = message.get("content")
                if isinstance(content, list):
                    content = "".join(c.get("text", "") for c in content if isinstance(c, dict))
                parts.append(str(content or ""))
            return "\n".join(parts)
        if "contents" in body:
            texts = []
            contents = body["contents"]
            for item in contents if isinstance(contents, list) else [contents]:
                for part in item.get("parts", []) if isinstance(item, dict) else []:
                    texts.append(part.get("text", ""))
            return "\n".join(texts)
        prompt = body.get("prompt", "")
        return prompt[0] if isinstance(prompt, list) and prompt else str(prompt)

    # -- handling ----------------------------------------------------------------------------

    def _handle(self, handler: _Handler, body: dict[str, Any]) -> None:
        path = handler.path.split("?", 1)[0]
        headers = {k.lower(): v for k, v in handler.headers.items()}
        record = RecordedRequest(method="POST", path=path, headers=headers, body=body, time=time.time())
        gemini = _GEMINI.match(path)
        with self._lock:
            self._log.append(record)
            self._counters["received"] += 1
            self._counters[f"path:{path}"] += 1
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            hang = self._faults.hangs.popleft() if self._faults.hangs else None
            failure = None
            if hang is None and self._faults.failures:
                failure = self._faults.failures.popleft()
                record.fault = "fail"
            elif hang is None and self.failure_rate > 0 and self._rng.random() < self.failure_rate:
                status = self._rng.choice(self.failure_statuses)
                failure = (status, self.random_retry_after if status == 429 else None)
                record.fault = "random"
        try:
            status, payload, headers = self._answer(handler, path, gemini, body, hang, failure, record)
            with self._lock:
                record.status = status
                record.gave_up = _closed_by_client(handler.connection)
            handler._send(status, payload, headers)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _answer(
        self,
        handler: _Handler,
        path: str,
        gemini: re.Match[str] | None,
        body: dict[str, Any],
        hang: float | None,
        failure: tuple[int, float | None] | None,
        record: RecordedRequest,
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        error = _gemini_error if gemini else _openai_error
        if self.api_key is not None and not self._authorized(handler):
            self._count("unauthorized")
            return 401, error(401, "invalid api key"), {}
        if hang is not None:
            record.fault = "hang"
            self._count("hung")
            if math.isinf(hang):
                self._until_client_gives_up(handler.connection)
            else:
                self._stopping.wait(hang)
        if failure is not None:
            status, retry_after = failure
            self._count("failed")
            headers = {}
            if retry_after is not None:
                headers["Retry-After"] = _seconds(retry_after)
                headers["retry-after-ms"] = str(int(round(retry_after * 1000)))
            return status, error(status, f"injected failure {status}"), headers
        refused = [name for name in self.rejected_fields if name in body]
        if refused and not gemini:
            return 400, error(400, f"Unrecognized request argument supplied: {refused[0]}"), {}
        if self.latency > 0:
            self._stopping.wait(self.latency)
        if gemini:
            payload = self._gemini_response(body, gemini.group("model"))
        elif path.endswith("/chat/completions"):
            payload = self._openai_response(body, chat=True)
        elif path.endswith("/completions"):
            payload = self._openai_response(body, chat=False)
        else:
            return 404, _openai_error(404, f"no route {path}"), {}
        self._count("ok")
        return 200, payload, {}

    def _until_client_gives_up(self, connection: socket.socket) -> None:
        """Wait for the client to close ``connection`` (a timeout on its side) or the server
        to stop: an event, not a clock (the 0.1 s only lets a stop be noticed)."""
        while not self._stopping.is_set():
            readable, _, _ = select.select([connection], [], [], 0.1)
            if readable:
                return  # closed (or, against HTTP/1.1, sent more): answer now

    def _authorized(self, handler: _Handler) -> bool:
        bearer = handler.headers.get("Authorization", "")
        google = handler.headers.get("x-goog-api-key", "")
        return bearer == f"Bearer {self.api_key}" or google == self.api_key

    def _count(self, name: str) -> None:
        with self._lock:
            self._counters[name] += 1

    def _reply(self, body: dict[str, Any], index: int = 0) -> str | dict[str, Any]:
        if self.responder is None:
            return self.default_text
        try:
            takes_index = len(inspect.signature(self.responder).parameters) >= 2
        except (TypeError, ValueError):
            takes_index = False
        return self.responder(body, index) if takes_index else self.responder(body)

    def _tokens(self, text: str, body: dict[str, Any]) -> tuple[list[str], list[str]]:
        """The reply's tokens as sent (raw pieces or ``token_id:N`` with a ``tokenizer``) and as text."""
        if self.tokenizer is None:
            tokens = split_tokens(text)
            return tokens, tokens
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        texts = [self.tokenizer.decode([i]) for i in ids]
        if body.get("return_tokens_as_token_ids"):
            return [f"token_id:{i}" for i in ids], texts
        return list(self.tokenizer.convert_ids_to_tokens(ids)), texts

    def _logprob(self, index: int, token: str) -> float:
        return float(self.logprob_fn(index, token)) if self.logprob_fn else -0.1

    def _openai_response(self, body: dict[str, Any], *, chat: bool) -> dict[str, Any]:
        n = int(body.get("n") or 1)
        choices = []
        usage_completion = 0
        prompts = body.get("prompt") if not chat and isinstance(body.get("prompt"), list) else [None]
        if prompts and all(isinstance(x, int) for x in prompts):  # one prompt given as token ids
            prompts = [None]
        for number, prompt in enumerate(prompts):
            asked = body if prompt is None else {**body, "prompt": prompt}
            for sample in range(n):
                reply = self._reply(asked, sample)
                if isinstance(reply, dict):
                    return reply
                text, finish = _truncate(reply, body)
                echoed = self.prompt_text(asked) if body.get("echo") and not chat else ""
                tokens, _ = self._tokens(echoed + text, body) if echoed else self._tokens(text, body)
                usage_completion += len(tokens)
                choice: dict[str, Any] = {"index": number * n + sample, "finish_reason": finish}
                if chat:
                    choice["message"] = {"role": "assistant", "content": text}
                    choice["logprobs"] = self._chat_logprobs(tokens, body) if body.get("logprobs") else None
                else:
                    choice["text"] = echoed + text
                    wants = body.get("logprobs")
                    logprobs = self._legacy_logprobs(tokens, wants) if wants is not None else None
                    if logprobs is not None and echoed:  # nothing comes before the first token
                        logprobs["token_logprobs"][0] = None
                        if logprobs["top_logprobs"]:
                            logprobs["top_logprobs"][0] = None
                    choice["logprobs"] = logprobs
                choices.append(choice)
        prompt_tokens = len(split_tokens(self.prompt_text(body)))
        return {
            "id": f"{'chatcmpl' if chat else 'cmpl'}-fake{self.counters.get('received', 0)}",
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()),
            "model": self.model or body.get("model", "fake-model"),
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": usage_completion,
                "total_tokens": prompt_tokens + usage_completion,
            },
        }

    def _chat_logprobs(self, tokens: list[str], body: dict[str, Any]) -> dict[str, Any]:
        top = int(body.get("top_logprobs") or 0)
        content = []
        for i, token in enumerate(tokens):
            lp = self._logprob(i, token)
            alternatives = [{"token": token, "logprob": lp, "bytes": list(token.encode("utf-8"))}]
            for k in range(1, top):
                alt = f"{token}~{k}"
                alternatives.append({"token": alt, "logprob": lp - 2.0 * k, "bytes": list(alt.encode())})
            content.append(
                {
                    "token": token,
                    "logprob": lp,
                    "bytes": list(token.encode("utf-8")),
                    "top_logprobs": alternatives[:top] if top else [],
                }
            )
        return {"content": content, "refusal": None}

    def _legacy_logprobs(self, tokens: list[str], top: Any) -> dict[str, Any]:
        lps = [self._logprob(i, t) for i, t in enumerate(tokens)]
        offsets, at = [], 0
        for token in tokens:
            offsets.append(at)
            at += len(token)
        k = int(top or 0)
        tops = [{t: lp, **{f"{t}~{j}": lp - 2.0 * j for j in range(1, k)}}
                for t, lp in zip(tokens, lps, strict=True)]
        return {"tokens": tokens, "token_logprobs": lps, "top_logprobs": tops if k else None,
                "text_offset": offsets}

    def _gemini_response(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        reply = self._reply(body)
        if isinstance(reply, dict):
            return reply
        prompt_tokens = len(split_tokens(self.prompt_text(body)))
        completion = len(split_tokens(reply))
        return {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": reply}]},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": prompt_tokens,
                "candidatesTokenCount": completion,
                "totalTokenCount": prompt_tokens + completion,
            },
            "modelVersion": self.model or model,
        }


def _truncate(text: str, body: dict[str, Any]) -> tuple[str, str]:
    finish = "stop"
    stops = body.get("stop")
    if isinstance(stops, str):
        stops = [stops]
    for stop in stops or []:
        cut = text.find(stop)
        if stop and cut >= 0:
            text = text[:cut]
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit is not None:
        tokens = split_tokens(text)
        if len(tokens) > int(limit):
            text, finish = "".join(tokens[: int(limit)]), "length"
    return text, finish


def _closed_by_client(connection: socket.socket) -> bool:
    """Whether the client has closed its end (its next read would be the end of the stream)."""
    try:
        readable, _, _ = select.select([connection], [], [], 0)
        return bool(readable) and connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _openai_error(status: int, message: str) -> dict[str, Any]:
    kind = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_exceeded"}
    return {"error": {"message": message, "type": kind.get(status, "server_error"), "code": status}}


def _gemini_error(status: int, message: str) -> dict[str, Any]:
    names = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}
    return {"error": {"code": status, "message": message, "status": names.get(status, "INTERNAL")}}


def main(argv: Sequence[str] | None = None) -> None:
    """Serve from a process of its own (benchmarks keep the server off the client's GIL):
    ``python tests/fake_openai_server.py [--latency S] [--responder MODULE:FUNC]`` prints
    ``PORT`` on its first line, then serves until its standard input closes."""
    import argparse
    import importlib
    import sys

    parser = argparse.ArgumentParser(description="a fake OpenAI/Gemini server on 127.0.0.1")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--responder", default="", help="MODULE:FUNCTION answering each request body")
    parser.add_argument("--text", default="OK", help="the answer when there is no responder")
    args = parser.parse_args(argv)
    responder = None
    if args.responder:
        module, _, name = args.responder.partition(":")
        responder = getattr(importlib.import_module(module), name)
    with FakeOpenAIServer(responder=responder, default_text=args.text, latency=args.latency) as server:
        print(server.port, flush=True)
        sys.stdin.read()  # until the parent closes our stdin (or dies)


if __name__ == "__main__":
    main()
