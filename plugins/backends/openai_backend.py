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
``tokens``/``token_logprobs`` or, as llama.cpp's server sends them, ``content``; a chat reply in
the legacy shape (``tokens``/``token_logprobs`` with no ``content``, as llama-cpp-python's server
has sent chat log-probabilities) is read as legacy completions are. With a
reasoning parser (``vllm serve --reasoning-parser``) ``logprobs.content`` also covers the
reasoning that ``message.content`` leaves out: only the tokens of the content are kept.

Which text each log-probability belongs to: with ``tokenizer`` (the served model's tokenizer,
a local path or hub name) the request asks for token ids (vLLM's
``return_tokens_as_token_ids``; llama.cpp sends an ``id`` anyway) and each token's text is
its id decoded, as the ``hf`` and ``vllm`` backends decode it, and the answer's tokens are the
fewest whose ids decode to it. Without, tokens are read as sent; vLLM 0.8-0.9 servers send raw
vocabulary pieces (``"Ġred"``, ``"Ċ"``), read as byte-level or SentencePiece pieces when that
is what spells the reply.

Beyond one greedy answer: ``n`` samples per request (``n``, the request's ``temperature`` and
``seed``; a server that returns fewer choices fails that request), ``top_logprobs > 0`` for
per-token entropies (of the top ``top_logprobs`` renormalised: an approximation; chat servers
give at most 20), and ``score`` through ``/v1/completions`` with ``echo`` and ``logprobs``:
the prompt followed by each continuation as one text, the continuation's tokens found by their
text offsets (so the server tokenizes prompt and continuation together: where a token spans
both, that continuation has no score and the example says why). Chat cannot score:
``capabilities`` says so, so the core refuses up front an extractor that needs it; a reply
without what was asked (no log-probabilities) is that example's error.

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

import attrs

from harness.errors import HarnessError, ParameterError
from harness.plugins.backends.common import (
    BackendBase,
    check_positive,
    covering_prefix,
    cut_at_stop,
    decode_batch,
    failed_generation,
    model_label,
    progress_bar,
    renormalised_entropy,
    request_sampling,
    tokens_covering,
)
from harness.records import Generation, Scores
from harness.strategies import GenerationRequest, ScoreRequest

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
        top_logprobs: int = 0,
        tokenizer: str = "",
        seed: int = 0,
    ) -> None:
        check_positive("concurrency", concurrency)
        check_positive("max_retries", max_retries, allow_zero=True)
        check_positive("timeout", timeout)
        check_positive("top_logprobs", top_logprobs, allow_zero=True)
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
        self.top_logprobs = int(top_logprobs)
        self.tokenizer_name = str(tokenizer)
        self.seed = int(seed)
        self._tokenizer: Any = None
        #: the field that bounds a reply's length: chat's ``max_completion_tokens`` (``max_tokens``
        #: is deprecated there), until a server refuses it
        self.limit_field = "max_completion_tokens" if api == "chat" else "max_tokens"
        self._client: Any = None

    @property
    def capabilities(self) -> frozenset[str]:
        """What this backend serves as set up: scores only through completions, entropies only
        with ``top_logprobs > 0`` (whether a server really sends them shows per reply)."""
        served = {"logprobs", "samples"} | ({"entropies"} if self.top_logprobs else set())
        return frozenset(served | ({"scores"} if self.api == "completions" else set()))

    @property
    def tokenizer(self) -> Any:
        """The served model's tokenizer (``tokenizer``), loaded on first use; None without one."""
        if self._tokenizer is None and self.tokenizer_name:
            from transformers import AutoTokenizer

            try:
                self._tokenizer = AutoTokenizer.from_pretrained(self.tokenizer_name)
            except (OSError, ValueError) as exc:
                raise ParameterError(f"tokenizer = {self.tokenizer_name!r}: cannot load it ({exc})") from None
        return self._tokenizer

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
        for request in requests:  # a bad n or temperature: one line before any request
            request_sampling(request, self.temperature)
        yield from self._pooled(requests, self._one, progress, self.name)

    def score(self, requests: Sequence[ScoreRequest], *, progress: bool = True) -> Iterator[Scores]:
        """Yield the ``Scores`` of each request (as each completes): one ``/v1/completions``
        request per prompt, its continuations as a list of prompts, echoed with their
        log-probabilities."""
        if self.api != "completions":
            raise ParameterError("the openai backend scores through /v1/completions (echo with logprobs), "
                                 "which chat servers do not offer: set -p backend.api=completions")
        yield from self._pooled(list(requests), self._score_one, progress, f"{self.name} score")

    def _pooled(self, items: list[Any], work: Any, progress: bool, label: str) -> Iterator[Any]:
        """``work(client, item)`` of every item, ``concurrency`` at a time in threads, yielded as
        each completes; a ``HarnessError`` of one ends them all."""
        if not items:
            return
        client = self.client
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="openai-backend")
        pending: set[Future[Any]] = set()
        queue = iter(items)
        try:
            with progress_bar(label, len(items), progress) as bar:
                # keep at most 2 x concurrency submitted: a failing server stops the run quickly
                for item in _take(queue, 2 * self.concurrency):
                    pending.add(pool.submit(work, client, item))
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        result = future.result()  # a HarnessError ends the run here
                        for item in _take(queue, 1):
                            pending.add(pool.submit(work, client, item))
                        bar.update(1)
                        yield result
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=False, cancel_futures=True)

    def _common(self, max_tokens: int, temperature: float) -> dict[str, Any]:
        """The fields every request carries: model, length bound, pinned decoding, extras."""
        common: dict[str, Any] = {
            "model": self.request_model,
            self.limit_field: max_tokens,
            "temperature": temperature,
            **PINNED_SAMPLING,
        }
        extra = dict(SERVER_SAMPLING) if self.server_sampling else {}
        if self.tokenizer is not None:
            extra["return_tokens_as_token_ids"] = True  # vLLM: tokens as "token_id:N"
        if extra:
            common["extra_body"] = extra
        return common

    def _one(self, client: Any, request: GenerationRequest) -> Generation:
        n, temperature = request_sampling(request, self.temperature)
        stop = [s for s in request.stop if s] or None
        common = self._common(self.max_new_tokens, temperature)
        if n > 1:
            common["n"] = n
        if temperature > 0:
            common["seed"] = self.seed if request.seed is None else int(request.seed)
        if stop:
            common["stop"] = stop
        if self.api == "chat":
            # at least the chosen token's alternatives: llama-cpp-python's server (0.3.36) sends no
            # log-probabilities on chat without top_logprobs, whatever logprobs says
            call = lambda: client.chat.completions.create(  # noqa: E731
                messages=[{"role": "user", "content": request.prompt}], logprobs=True,
                top_logprobs=max(1, self.top_logprobs), **common)
        else:
            call = lambda: client.completions.create(  # noqa: E731
                prompt=request.prompt, logprobs=max(1, self.top_logprobs), **common)
        reply = self._call(call, lambda: self._one(client, request))
        if isinstance(reply, Generation):  # asked again with max_tokens
            return reply
        if isinstance(reply, str):
            return self._failed(request, reply)
        if not reply.choices:
            return self._failed(request, "the server returned no choices")
        choices = sorted(reply.choices, key=lambda c: c.index or 0)
        generation = self._to_generation(request, choices[0])
        if n == 1:
            return generation
        samples = [cut_at_stop(self._choice_text(c), request.stop)[0] for c in choices]
        missing = f"asked for {n} samples (n), the server sent {len(samples)}" if len(samples) < n else None
        return attrs.evolve(generation, samples=samples[:n], error=generation.error or missing)

    def _call(self, call: Any, again: Any) -> Any:
        """The server's reply to ``call()``, or the one line why it refused the request (400/422;
        ``again()`` once more after a refusal of ``max_completion_tokens``); other failures stop
        the run with one line."""
        import openai

        field = self.limit_field
        try:
            return call()
        except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
            if field == "max_completion_tokens" and field in _message(exc):  # a server that predates it
                self.limit_field = "max_tokens"
                return again()
            return f"{exc.status_code}: {_message(exc)}"
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

    def _choice_text(self, choice: Any) -> str:
        return (choice.message.content if self.api == "chat" else choice.text) or ""

    def _to_generation(self, request: GenerationRequest, choice: Any) -> Generation:
        raw_text = self._choice_text(choice)
        read = read_logprobs(choice.logprobs, chat=self.api == "chat")
        texts, ids = self._token_texts(read.tokens, read.ids, raw_text)
        if self.api == "chat":
            # a reasoning parser (vllm serve --reasoning-parser) leaves the reasoning out of the
            # content but not out of the log-probabilities: keep those of the content
            start = _content_start(texts, raw_text)
            read = read.tail(start)
            texts, ids = texts[start:], ids[start:] if ids else None
        # a server that ignores ``stop`` still gets its answer cut where the extractor wants
        text, stopped = cut_at_stop(raw_text, request.stop)
        if ids and self.tokenizer is not None:
            def decoded(k: int) -> str:
                return self.tokenizer.decode(ids[:k], skip_special_tokens=True)

            n = covering_prefix(len(ids), lambda k: decoded(k).startswith(text))
        else:
            n = tokens_covering(texts, len(text)) if texts else 0
        entropies = [renormalised_entropy(top[: self.top_logprobs]) for top in read.tops[:n]] \
            if self.top_logprobs and len(read.tops) >= n else []
        return Generation(
            example_id=request.example_id,
            prompt=request.prompt,
            text=text,
            tokens=texts[:n],
            logprobs=[None if x is None else float(x) for x in read.logprobs[:n]],
            entropies=entropies,
            logprob_kind=self.logprob_kind,
            finish_reason="stop" if stopped else _finish_reason(choice),
            model=model_label(self.model_name, self.adapter),
            backend=self.name,
        )

    def _token_texts(self, tokens: list[str], ids: list[int] | None,
                     text: str) -> tuple[list[str], list[int] | None]:
        """Each token's text: its id decoded where the server gave ids and a tokenizer is set,
        else as sent (raw vocabulary pieces read as text where that spells ``text``)."""
        if ids is not None and self.tokenizer is not None:
            return decode_batch(self.tokenizer, [[i] for i in ids], skip_special_tokens=False), ids
        return readable_pieces(tokens, text), None

    def _score_one(self, client: Any, request: ScoreRequest) -> Scores:
        """One ``/v1/completions`` request for all of ``request``'s continuations."""
        conts = list(request.continuations)
        values: list[float | None] = [None] * len(conts)
        error = None
        if conts:
            prompts = [request.prompt + c for c in conts]
            common = self._common(1, 0.0)
            reply = self._call(
                lambda: client.completions.create(prompt=prompts, echo=True, logprobs=1, **common),
                lambda: self._score_one(client, request))
            if isinstance(reply, Scores):  # asked again with max_tokens
                return reply
            if isinstance(reply, str):
                error = reply
            else:
                by_index = {c.index or 0: c for c in reply.choices}
                found = [_echoed_logprob(by_index.get(j), len(request.prompt), prompts[j])
                         for j in range(len(conts))]
                values = [value for value, _ in found]
                error = next((problem for _, problem in found if problem), None)
        return Scores(example_id=request.example_id, prompt=request.prompt, continuations=conts,
                      logprobs=values, model=model_label(self.model_name, self.adapter), backend=self.name,
                      error=error)

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


@attrs.frozen
class ReadLogprobs:
    """A reply's tokens as sent, their ids where the server gave them, log-probabilities, the
    top log-probabilities of each position (empty lists where none), and text offsets."""

    tokens: list[str]
    logprobs: list[float | None]
    ids: list[int] | None = None
    tops: list[list[float]] = attrs.field(factory=list)
    offsets: list[int] | None = None

    def tail(self, start: int) -> ReadLogprobs:
        return ReadLogprobs(tokens=self.tokens[start:], logprobs=self.logprobs[start:],
                            ids=self.ids[start:] if self.ids is not None else None, tops=self.tops[start:],
                            offsets=self.offsets[start:] if self.offsets is not None else None)


def read_logprobs(logprobs: Any, *, chat: bool) -> ReadLogprobs:
    """What a choice's ``logprobs`` hold: chat's ``content`` list, legacy completions'
    ``tokens``/``token_logprobs``/``top_logprobs``/``text_offset`` (on chat too, where a server
    answers chat in that shape), or llama.cpp's ``content`` on completions (kept by the SDK as an
    extra field of plain dicts). Token ids come from ``"token_id:N"`` tokens (vLLM's
    ``return_tokens_as_token_ids``) or an item's ``id`` (llama.cpp)."""
    if logprobs is None:
        return ReadLogprobs(tokens=[], logprobs=[])
    content = getattr(logprobs, "content", None)
    if content is None:
        content = (getattr(logprobs, "model_extra", None) or {}).get("content")
    tokens = list(getattr(logprobs, "tokens", None) or [])
    if tokens and not (chat and content):  # chat in the legacy shape too (llama-cpp-python's, at times)
        values = list(getattr(logprobs, "token_logprobs", None) or [])
        tops = [sorted((top or {}).values(), reverse=True)
                for top in getattr(logprobs, "top_logprobs", None) or []]
        offsets = getattr(logprobs, "text_offset", None)
        return ReadLogprobs(tokens=tokens, logprobs=values, ids=_token_ids(tokens, None), tops=tops,
                            offsets=list(offsets) if offsets else None)
    items = [item if isinstance(item, dict) else item.model_dump() for item in content or []]
    tokens = [str(item.get("token", "")) for item in items]
    tops = [sorted((t.get("logprob") for t in item.get("top_logprobs") or [] if t.get("logprob") is not None),
                   reverse=True) for item in items]
    return ReadLogprobs(tokens=tokens, logprobs=[item.get("logprob") for item in items],
                        ids=_token_ids(tokens, [item.get("id") for item in items]), tops=tops)


def _token_ids(tokens: list[str], given: list[Any] | None) -> list[int] | None:
    if given and all(isinstance(i, int) for i in given):
        return list(given)
    if tokens and all(t.startswith("token_id:") and t[9:].isdigit() for t in tokens):
        return [int(t[9:]) for t in tokens]
    return None


def _echoed_logprob(choice: Any, start: int, text: str) -> tuple[float | None, str | None]:
    """The summed log-probability of the continuation that starts at character ``start`` of the
    echoed ``text``, or why it cannot be taken."""
    read = read_logprobs(choice.logprobs, chat=False) if choice is not None else None
    if read is None or not read.logprobs:
        return None, "the server sent no log-probabilities of the prompt (echo with logprobs): cannot score"
    span, problem = _continuation_span(read, start, len(text) - start, text)
    picked = [read.logprobs[k] if k < len(read.logprobs) else None for k in span]
    if problem or not picked or any(x is None for x in picked):
        return None, problem
    return float(sum(picked)), None  # type: ignore[arg-type]


def _continuation_span(read: ReadLogprobs, start: int, length: int, text: str) -> tuple[range, str | None]:
    """The positions of the tokens that make up ``text[start:start + length]`` by their text
    offsets (from the tokens' lengths where the server sent none), or why they cannot be told."""
    offsets = read.offsets
    if offsets is None:
        pieces = readable_pieces(read.tokens, text)
        offsets, at = [], 0
        for piece in pieces:
            offsets.append(at)
            at += len(piece)
    ends = [*offsets[1:], 10**12]
    first = next((k for k, o in enumerate(offsets) if o >= start), len(offsets))
    if first > 0 and ends[first - 1] > start and offsets[first - 1] < start:
        return range(0), ("a token of the server spans the end of the prompt and the start of the "
                          "continuation, so its log-probability cannot be split")
    last = next((k for k, o in enumerate(offsets) if o >= start + length), len(offsets))
    return range(first, last), None


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
