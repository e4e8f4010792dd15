"""What every backend shares: rendering a prompt for the model, cutting the output at a
stop string, and matching the kept text to the generated tokens.

A backend hands back the raw generated text *without* the stop string, and only the
tokens (and their log-probabilities) that make up that text: a token that lies wholly
inside or after the stop string, an end-of-sequence token and trailing padding are dropped;
a token that straddles the stop (``".\\n"``) is kept, since part of it is answer text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from harness.errors import ParameterError

#: the values ``chat_template`` accepts besides a bool
_AUTO = "auto"
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
FINISH_REASONS = ("stop", "eos", "length")


def chat_setting(value: Any) -> bool | None:
    """``chat_template`` as ``True`` / ``False`` / ``None`` (auto); anything else is an error."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        if low == _AUTO:
            return None
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    raise ParameterError(f"chat_template must be 'auto', true or false, not {value!r}")


def use_chat_template(tokenizer: Any, setting: Any) -> bool:
    """Whether prompts go through the tokenizer's chat template (``auto``: when it has one)."""
    wanted = chat_setting(setting)
    has = bool(getattr(tokenizer, "chat_template", None))
    if wanted is None:
        return has
    if wanted and not has:
        raise ParameterError("chat_template=true, but the model's tokenizer has no chat template")
    return wanted


def prompt_token_ids(tokenizer: Any, prompt: str, chat: bool) -> list[int]:
    """The token ids a model is given for ``prompt``.

    With the chat template the prompt is one user turn followed by the generation prompt;
    the template brings its own special tokens, so none are added twice. Without it the
    tokenizer adds whatever special tokens it is configured to (a BOS, or nothing).
    """
    if chat:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])
    return list(tokenizer(prompt, add_special_tokens=True)["input_ids"])


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to the earliest stop string, and whether one was found."""
    positions = [text.find(s) for s in stop if s]
    positions = [p for p in positions if p >= 0]
    if not positions:
        return text, False
    return text[: min(positions)], True


def covering_prefix(n_tokens: int, covers: Callable[[int], bool]) -> int:
    """The fewest leading tokens that make up the kept text: the smallest ``k`` with
    ``covers(k)``, for a ``covers`` that holds for every ``k`` from some point on.

    The scan starts from the end, since the kept text nearly always ends within the last
    token or two: it costs one or two checks, not one per token.
    """
    k = n_tokens
    while k > 0 and covers(k - 1):
        k -= 1
    return k


@attrs.frozen
class Trimmed:
    """A generated sequence cut to its answer: the text, how many tokens make it, and why
    generation ended (``stop``: a stop string; ``eos``: end of sequence; ``length``)."""

    text: str
    n_tokens: int
    finish_reason: str


def trim_output(
    token_ids: Sequence[int],
    decode: Callable[[Sequence[int]], str],
    stop: Sequence[str],
    eos_ids: Sequence[int] | set[int],
) -> Trimmed:
    """Cut raw generated ids at the first end-of-sequence token, then at the first stop string
    (with the tokens that lie wholly inside or after it).

    ``decode(ids)`` must skip special tokens and keep spaces as they are (no clean-up), so
    that the text of a prefix of the ids is a prefix of the text of all of them.
    """
    eos = set(eos_ids)
    ids = list(token_ids)
    ended = False
    for i, token in enumerate(ids):
        if token in eos:
            ids, ended = ids[:i], True
            break
    full = decode(ids)
    text, stopped = cut_at_stop(full, stop)
    reason = "stop" if stopped else "eos" if ended else "length"
    n = len(ids)
    if stopped:
        # the fewest tokens that make the kept text (a prefix covers it when its own text
        # starts with it: a token completing a multi-byte character adds no length)
        n = covering_prefix(n, lambda k: decode(ids[:k]).startswith(text))
    return Trimmed(text=text, n_tokens=n, finish_reason=reason)


def tokens_covering(tokens: Sequence[str], text_length: int) -> int:
    """How many leading token strings cover ``text_length`` characters (token strings that
    a server already decoded, e.g. OpenAI's ``logprobs.content[i].token``)."""
    lengths = [0]
    for token in tokens:
        lengths.append(lengths[-1] + len(token))
    return covering_prefix(len(tokens), lambda k: lengths[k] >= text_length)


def decode_batch(tokenizer: Any, rows: list[list[int]], *, skip_special_tokens: bool = True) -> list[str]:
    """Decode many short id lists at once, without clean-up of spaces (straight through the
    Rust tokenizer where there is one: transformers' own loop costs more than a model step
    of a tiny model)."""
    fast = getattr(tokenizer, "backend_tokenizer", None)
    if fast is not None:
        return list(fast.decode_batch(rows, skip_special_tokens=skip_special_tokens))
    return list(
        tokenizer.batch_decode(
            rows, skip_special_tokens=skip_special_tokens, clean_up_tokenization_spaces=False
        )
    )


def renormalised_entropy(logprobs: Sequence[float]) -> float:
    """The entropy (nats) of the distribution over the given tokens only, their probabilities
    renormalised to sum to 1: a position's top-k log-probabilities, which is all an engine or a
    server returns — the entropy of the whole distribution once k covers the vocabulary, an
    approximation below it (at most log k)."""
    import math

    values = [lp for lp in logprobs if lp is not None and math.isfinite(lp)]
    if not values:
        return 0.0
    top = max(values)
    weights = [math.exp(lp - top) for lp in values]
    total = sum(weights)
    return -sum(w / total * math.log(w / total) for w in weights if w > 0)


def table_parameter(value: Any) -> dict[str, Any] | None:
    """A passthrough parameter's value as a dict (``training_args``, ``grpo_args``, ``engine_args``): a
    TOML table (``-p backend.engine_args='{enforce_eager = true}'``), a JSON object in a string
    (``'{"enforce_eager": true}'``) or ``""`` for none; ``None`` for anything else."""
    table = value
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            table = json.loads(value)
        except ValueError:
            return None
    if not isinstance(table, Mapping) or not all(isinstance(key, str) for key in table):
        return None
    return dict(table)


TABLE_FORM = "a table of fields, e.g. {name = 1} or '{\"name\": 1}'"


def first_line(exc: BaseException) -> str:
    """An exception's message as one line (its first), or its type's name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def failed_generation(request: Any, backend: Any, logprob_kind: str, error: str) -> Any:
    """The ``Generation`` of a request that failed: no text, ``error`` says why (the run goes on)."""
    from harness.records import Generation

    return Generation(
        example_id=request.example_id,
        prompt=request.prompt,
        text="",
        logprob_kind=logprob_kind,
        model=model_label(backend.model_name, backend.adapter),
        backend=backend.name,
        error=error,
    )


def model_label(model: str, adapter: str | None) -> str:
    """How a generation names its model: the name as given, plus the adapter when there is one."""
    return f"{model}+{adapter}" if adapter else model


def progress_bar(backend: str, total: int, enabled: bool) -> Any:
    """The ``tqdm`` bar of a backend's ``generate`` (one step per prompt; silent unless ``enabled``)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"generate ({backend})", unit="prompt", disable=not enabled)


def check_positive(name: str, value: Any, *, allow_zero: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    ok = ok and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = "at least 0" if allow_zero else "positive"
        raise ParameterError(f"{name} must be {bound}, not {value!r}")


class BackendBase:
    """The settings every backend has, checked and kept alike: the model as named, the path or
    name it is loaded or requested by, the adapter, ``max_new_tokens`` and ``temperature``."""

    def _set_generation(
        self, model: str, model_path: str, adapter: str | None, max_new_tokens: Any, temperature: Any
    ) -> None:
        check_positive("max_new_tokens", max_new_tokens)
        check_positive("temperature", temperature, allow_zero=True)
        self.model_name = model
        self.model_path = model_path
        self.adapter = adapter
        self.max_new_tokens = int(max_new_tokens)
        self.temperature = float(temperature)


def request_sampling(request: Any, default_temperature: float) -> tuple[int, float]:
    """A request's number of samples and temperature (its own, else the backend's), checked:
    ``n`` at least 1, and a temperature above 0 whenever ``n > 1`` (greedy samples would all
    be the same text)."""
    n = request.n
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ParameterError(f"a request's n (samples) must be at least 1, not {n!r}")
    temperature = default_temperature if request.temperature is None else request.temperature
    check_positive("temperature", temperature, allow_zero=True)
    if n > 1 and temperature <= 0:
        raise ParameterError(f"{n} samples need a temperature above 0, not {temperature!r}")
    return n, float(temperature)


def split_last_tokens(continuations: Sequence[Sequence[int]]) -> tuple[list[int], list[int]] | None:
    """``(shared ids, each one's last token)`` when the token-id lists are the same ids plus one
    distinct last token each (``" A"`` / ``" B"``, however a tokenizer splits them), so that one
    forward pass over the shared ids gives every one's probability; else ``None`` (also for an
    empty list or an empty continuation)."""
    if not continuations or not all(continuations):
        return None
    shared = list(continuations[0][:-1])
    lasts = [ids[-1] for ids in continuations]
    if any(list(ids[:-1]) != shared for ids in continuations) or len(set(lasts)) != len(lasts):
        return None
    return shared, lasts
