"""The ``openai`` backend: any OpenAI-compatible server (vLLM serve, llama.cpp server,
SGLang, hosted APIs) through the ``openai`` SDK, with ``logprobs`` on every request.

Where it connects: the ``base_url`` parameter, else ``OPENAI_BASE_URL``, else OpenAI. The
key comes from ``OPENAI_API_KEY`` only — never a parameter, so it never lands in a run's
manifest; a server of your own that wants no key gets a placeholder.

Requests overlap, ``concurrency`` at a time, in threads (the SDK client is thread-safe).
The SDK retries 408/409/429/5xx answers, timeouts and dropped connections ``max_retries``
times with exponential back-off, honouring ``Retry-After``. What is left after that:

- a request the server rejects (400, 422: e.g. a prompt too long) becomes a ``Generation``
  with ``error`` set, and the run goes on;
- a bad key, a missing model (401, 403, 404) or a server still failing after the retries
  stops the run with one line; the generations already yielded are kept, so re-running
  resumes where it stopped.

Decoding is pinned to plain greedy (or plain temperature sampling): ``top_p`` 1 and no
presence or frequency penalty on every request; with ``server_sampling = true`` also
``repetition_penalty`` 1, ``top_k`` -1 and ``min_p`` 0, fields outside the OpenAI schema that
``vllm serve`` fills from the model's generation_config when a request leaves them out (hosted
APIs refuse them: keep it off there). Chat requests bound the reply with
``max_completion_tokens`` (``max_tokens`` is deprecated there); a server that refuses that
field gets ``max_tokens`` from then on.

Log-probabilities are read from ``logprobs.content`` on chat, and on legacy completions from
``tokens``/``token_logprobs`` or, as llama.cpp's server sends them, ``content``. With a
reasoning parser (``vllm serve --reasoning-parser``) ``logprobs.content`` also covers the
reasoning that ``message.content`` leaves out: only the tokens of the content are kept.

``logprob_kind`` is ``processed`` unless set otherwise: the OpenAI schema does not say which
distribution its log-probabilities come from, and servers differ (vLLM's V1 engine reports
raw ones, hosted APIs those of the distribution they sampled from). Set
``logprob_kind = "raw"`` for a server you know reports raw ones (``vllm serve
--logprobs-mode raw_logprobs``; llama.cpp's server, which reports the probabilities before
sampling unless asked for ``post_sampling_probs``). With greedy decoding the two coincide on
most servers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from harness.errors import HarnessError, ParameterError
from harness.plugins.backends.common import (
    BackendBase,
    check_positive,
    cut_at_stop,
    failed_generation,
    model_label,
    progress_bar,
    tokens_covering,
)
from harness.records import Generation
from harness.strategies import GenerationRequest

APIS = ("chat", "completions")
#: decoding as the other backends decode (plain greedy or plain temperature sampling), in the
#: fields of the OpenAI schema
PINNED_SAMPLING = {"top_p": 1.0, "presence_penalty": 0.0, "frequency_penalty": 0.0}
#: the same for the fields vLLM and SGLang servers take outside the schema, and fill from the
#: model's generation_config when a request leaves them out (``server_sampling = true``)
SERVER_SAMPLING = {"repetition_penalty": 1.0, "top_k": -1, "min_p": 0.0}
_MISSING = object()


class OpenAIBackend(BackendBase):
    """Generation through an OpenAI-compatible HTTP API (chat or legacy completions).

    ``model`` is the model name the server knows; an ``adapter`` is the name under which
    the server serves a LoRA adapter (``vllm serve --lora-modules NAME=PATH``) and is sent
    as the request's model instead.
    """

    name = "openai"

    def __init__(
        self,
        model: str,
        adapter: str | None = None,
        *,
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        api: str = "chat",
        base_url: str = "",
        concurrency: int = 8,
        max_retries: int = 5,
        timeout: float = 60.0,
        logprob_kind: str = "processed",
        server_sampling: bool = False,
    ) -> None:
        check_positive("concurrency", concurrency)
        check_positive("max_retries", max_retries, allow_zero=True)
        check_positive("timeout", timeout)
        if api not in APIS:
            raise ParameterError(f"api must be 'chat' or 'completions', not {api!r}")
        if logprob_kind not in ("raw", "processed"):
            raise ParameterError(f"logprob_kind must be 'raw' or 'processed', not {logprob_kind!r}")
        self._set_generation(model, model, adapter, max_new_tokens, temperature)
        self.request_model = adapter or model
        self.api = api
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        self.concurrency = int(concurrency)
        self.max_retries = int(max_retries)
        self.timeout = float(timeout)
        self.logprob_kind = logprob_kind
        self.server_sampling = bool(server_sampling)
        #: the field that bounds a reply's length: chat's ``max_completion_tokens`` (``max_tokens``
        #: is deprecated there), until a server refuses it
        self.limit_field = "max_completion_tokens" if api == "chat" else "max_tokens"
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import openai

            key = os.environ.get("OPENAI_API_KEY")
            if not key:
                if self.base_url is None:
                    raise HarnessError(
                        "the openai backend needs OPENAI_API_KEY (or a base_url of your own server)"
                    )
                key = "EMPTY"  # servers of one's own mostly want none; the SDK insists on one
            self._client = openai.OpenAI(
                base_url=self.base_url, api_key=key, max_retries=self.max_retries, timeout=self.timeout
            )
        return self._client

    def generate(
        self, requests: Sequence[GenerationRequest], *, progress: bool = True
    ) -> Iterator[Generation]:
        """Yield each generation as soon as its request completes (not in request order)."""
        requests = list(requests)
        if not requests:
            return
        client = self.client
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="openai-backend")
        pending: set[Future[Generation]] = set()
        queue = iter(requests)
        try:
            with progress_bar(self.name, len(requests), progress) as bar:
                # keep at most 2 x concurrency submitted: a failing server stops the run quickly
                for request in _take(queue, 2 * self.concurrency):
                    pending.add(pool.submit(self._one, client, request))
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        generation = future.result()  # a HarnessError ends the run here
                        for request in _take(queue, 1):
                            pending.add(pool.submit(self._one, client, request))
                        bar.update(1)
                        yield generation
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=False, cancel_futures=True)

    def _one(self, client: Any, request: GenerationRequest) -> Generation:
        import openai

        stop = [s for s in request.stop if s] or None
        field = self.limit_field
        common: dict[str, Any] = {
            "model": self.request_model,
            field: self.max_new_tokens,
            "temperature": self.temperature,
            **PINNED_SAMPLING,
        }
        if self.server_sampling:
            common["extra_body"] = dict(SERVER_SAMPLING)
        if stop:
            common["stop"] = stop
        try:
            if self.api == "chat":
                reply = client.chat.completions.create(
                    messages=[{"role": "user", "content": request.prompt}], logprobs=True, **common
                )
            else:
                reply = client.completions.create(prompt=request.prompt, logprobs=1, **common)
        except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
            if field == "max_completion_tokens" and field in _message(exc):  # a server that predates it
                self.limit_field = "max_tokens"
                return self._one(client, request)
            return self._failed(request, f"{exc.status_code}: {_message(exc)}")
        except openai.APIStatusError as exc:
            retried = f" after {self.max_retries} retries" if _retryable(exc.status_code) else ""
            raise HarnessError(
                f"openai backend: {self._where()} answered {exc.status_code}{retried}: {_message(exc)}"
            ) from None
        except openai.APITimeoutError:
            raise HarnessError(
                f"openai backend: {self._where()} did not answer within {self.timeout:g} s "
                f"({self.max_retries} retries)"
            ) from None
        except openai.APIConnectionError as exc:
            raise HarnessError(f"openai backend: cannot reach {self._where()}: {_message(exc)}") from None
        if not reply.choices:
            return self._failed(request, "the server returned no choices")
        return self._to_generation(request, reply.choices[0])

    def _to_generation(self, request: GenerationRequest, choice: Any) -> Generation:
        if self.api == "chat":
            raw_text = choice.message.content or ""
            tokens, logprobs = _content_logprobs(choice.logprobs)
            # a reasoning parser (vllm serve --reasoning-parser) leaves the reasoning out of the
            # content but not out of the log-probabilities: keep those of the content
            start = _content_start(tokens, raw_text)
            tokens, logprobs = tokens[start:], logprobs[start:]
        else:
            raw_text = choice.text or ""
            legacy = choice.logprobs
            tokens = list(getattr(legacy, "tokens", None) or [])
            logprobs = list(getattr(legacy, "token_logprobs", None) or [])
            if not tokens:  # llama.cpp's /v1/completions: {"content": [{"token", "logprob"}, ...]}
                tokens, logprobs = _content_logprobs(legacy)
        tokens = readable_pieces(tokens, raw_text)
        # a server that ignores ``stop`` still gets its answer cut where the extractor wants
        text, stopped = cut_at_stop(raw_text, request.stop)
        n = tokens_covering(tokens, len(text)) if tokens else 0
        return Generation(
            example_id=request.example_id,
            prompt=request.prompt,
            text=text,
            tokens=tokens[:n],
            logprobs=[None if x is None else float(x) for x in logprobs[:n]],
            logprob_kind=self.logprob_kind,
            finish_reason="stop" if stopped else _finish_reason(choice),
            model=model_label(self.model_name, self.adapter),
            backend=self.name,
        )

    def _failed(self, request: GenerationRequest, error: str) -> Generation:
        return failed_generation(request, self, self.logprob_kind, error)

    def _where(self) -> str:
        return self.base_url or "api.openai.com"


def _byte_decoder() -> dict[str, int]:
    """The inverse of GPT-2's byte-level alphabet (bytes shown as printable characters: "Ġ" is a
    space, "Ċ" a newline), which byte-level BPE vocabularies (GPT-2, Llama 3, Qwen) are written in."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    chars = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


_BYTES = _byte_decoder()
_SP_BYTE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")  # SentencePiece's byte fallback: "<0x0A>"


def readable_pieces(tokens: list[str], text: str) -> list[str]:
    """Token strings as text. vLLM 0.8-0.9 servers send raw vocabulary pieces ("Ġred", "Ċ",
    "▁red") in ``logprobs``: when the pieces do not spell the returned text and, read as
    byte-level or SentencePiece pieces, they do, they are read so."""
    joined = "".join(tokens)
    if not tokens or _spells(joined, text):
        return tokens
    if all(ch in _BYTES for token in tokens for ch in token):
        pieces = [bytes(_BYTES[ch] for ch in token).decode("utf-8", errors="replace") for token in tokens]
        if _spells("".join(pieces), text):
            return pieces
    pieces = [_SP_BYTE.sub(_byte_char, token.replace("\u2581", " ")) for token in tokens]
    return pieces if _spells("".join(pieces), text) else tokens


def _byte_char(match: re.Match[str]) -> str:
    return chr(int(match.group(1), 16))


def _spells(joined: str, text: str) -> bool:
    return joined.startswith(text) or text.startswith(joined)


def _content_logprobs(logprobs: Any) -> tuple[list[str], list[float | None]]:
    """Tokens and log-probabilities of a ``logprobs.content`` list (chat, and llama.cpp's legacy
    completions, where the SDK keeps it as an extra field of plain dicts)."""
    content = getattr(logprobs, "content", None)
    if content is None:
        content = (getattr(logprobs, "model_extra", None) or {}).get("content")
    items = [item if isinstance(item, dict) else {"token": item.token, "logprob": item.logprob}
             for item in content or []]
    return [str(item.get("token", "")) for item in items], [item.get("logprob") for item in items]


def _content_start(tokens: Sequence[str], content: str) -> int:
    """Where the tokens of ``content`` begin among ``tokens``: 0 unless the tokens carry more text
    before it (reasoning), then the last start whose tokens spell the content (up to a stop)."""
    joined = "".join(tokens)
    if not content or joined.startswith(content) or content not in joined:
        return 0
    lengths = [0]
    for token in tokens:
        lengths.append(lengths[-1] + len(token))
    starts = [k for k in range(len(tokens)) if joined.startswith(content, lengths[k])]
    return starts[-1] if starts else 0


def _finish_reason(choice: Any) -> str | None:
    """``stop`` / ``length`` as the server says; vLLM's extra ``stop_reason`` (``None``
    for end-of-sequence, the string that matched otherwise) tells ``eos`` apart."""
    reason = choice.finish_reason
    if reason == "stop":
        extra = getattr(choice, "model_extra", None) or {}
        stop_reason = extra.get("stop_reason", _MISSING)
        if stop_reason is None or isinstance(stop_reason, int):
            return "eos"
    return reason


def _retryable(status: int) -> bool:
    return status in (408, 409, 429) or status >= 500


def _message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if body.get("message"):
            return str(body["message"])
    text = str(getattr(exc, "message", "") or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _take(iterator: Iterator[GenerationRequest], n: int) -> list[GenerationRequest]:
    items = []
    for _ in range(n):
        try:
            items.append(next(iterator))
        except StopIteration:
            break
    return items
