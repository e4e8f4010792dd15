"""The ``hf`` backend: generation in-process with transformers (and peft for an adapter).

Prompts are tokenized once, sorted by length and generated in left-padded batches; every
generated token's log-probability comes from the same ``generate`` call that chose it:
``raw`` is the log-softmax of the model's unprocessed logits at the chosen token (what
calibration needs; independent of temperature), ``processed`` that of the scores after the
logits processors (temperature, penalties) as ``compute_transition_scores`` gives them; the
entropy of each step's distribution (of the same kind) comes with it.
Results are yielded batch by batch, so the experiment can append them as they come.

Requests for ``n`` samples are served in one batched ``generate`` per batch of ``batch_size``
sequences (``batch_size // n`` prompts, at least one), with each prompt's key/value cache
computed once and shared by its ``n`` samples. The
random generator is seeded before each batch from the request's seed and the batch's example
ids, so a rerun of the same requests in the same batches draws the same samples. It is not
seeded per example: transformers draws the whole batch from one generator, so a prompt's
samples depend on the other prompts of its batch (and so on ``batch_size``); one prompt at a
time, with the same seed, gives other samples than the batched call.

``score`` gives the log-probability of given continuations after a prompt from one forward
pass per batch of (prompt, continuation) rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from itertools import groupby
from typing import Any

from harness.errors import HarnessError, ParameterError
from harness.plugins.backends.common import (
    BackendBase,
    chat_setting,
    check_positive,
    decode_batch,
    first_line,
    model_label,
    progress_bar,
    prompt_token_ids,
    request_sampling,
    split_last_tokens,
    trim_output,
    use_chat_template,
)
from harness.records import Generation, Scores
from harness.strategies import GenerationRequest, ScoreRequest

DTYPES = ("auto", "float32", "bfloat16", "float16")
LOGPROB_KINDS = ("raw", "processed")


class HFBackend(BackendBase):
    """Greedy (or temperature) generation with per-token log-probabilities.

    The model loads on the first ``generate`` call, so building the backend is cheap and a
    fully resumed run never loads it. ``device``/``dtype`` ``auto``: CUDA, else MPS, else
    CPU; bfloat16 on a GPU that supports it, else float32. Memory note: the logits of every
    step of a batch are kept until the batch ends (``batch_size x steps x vocab``), so
    lower ``batch_size`` for a large vocabulary and long outputs.
    """

    name = "hf"
    capabilities = frozenset({"logprobs", "entropies", "samples", "scores"})

    def __init__(
        self,
        model: str,
        adapter: str | None = None,
        *,
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        batch_size: int = 16,
        device: str = "auto",
        dtype: str = "auto",
        chat_template: str | bool = "auto",
        logprob_kind: str = "raw",
        seed: int = 0,
    ) -> None:
        from harness.plugins.models import resolve_model

        check_positive("batch_size", batch_size)
        if dtype not in DTYPES:
            raise ParameterError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
        if logprob_kind not in LOGPROB_KINDS:
            raise ParameterError(f"logprob_kind must be 'raw' or 'processed', not {logprob_kind!r}")
        chat_setting(chat_template)  # validate now, apply once the tokenizer is loaded
        self._set_generation(model, str(resolve_model(model)), adapter, max_new_tokens, temperature)
        self.batch_size = int(batch_size)
        self.device_setting = device
        self.dtype_setting = dtype
        self.chat_template = chat_template
        self.logprob_kind = logprob_kind
        self.seed = int(seed)
        self._model: Any = None
        self._tokenizer: Any = None
        self._device: Any = None
        self._chat = False

    # -- loading -----------------------------------------------------------------------------

    def load(self) -> None:
        """Load the tokenizer, the model and the adapter (once)."""
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = pick_device(self.device_setting)
        dtype = pick_dtype(self.dtype_setting, device)
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.model_path)
            model = AutoModelForCausalLM.from_pretrained(self.model_path, **_dtype_argument(dtype))
        except OSError as exc:
            raise HarnessError(f"cannot load model {self.model_path!r}: {first_line(exc)}") from None
        if self.adapter:
            from peft import PeftModel

            try:
                model = PeftModel.from_pretrained(model, self.adapter)
            except (OSError, ValueError) as exc:
                raise HarnessError(f"cannot load adapter {self.adapter!r}: {first_line(exc)}") from None
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        model.to(device).eval()
        self._chat = use_chat_template(tokenizer, self.chat_template)
        self._tokenizer, self._model, self._device = tokenizer, model, torch.device(device)

    @property
    def tokenizer(self) -> Any:
        self.load()
        return self._tokenizer

    @property
    def model(self) -> Any:
        self.load()
        return self._model

    def eos_ids(self) -> set[int]:
        ids: set[int] = set()
        configured = getattr(self.model.generation_config, "eos_token_id", None)
        for value in configured if isinstance(configured, list) else [configured]:
            if value is not None:
                ids.add(int(value))
        if self.tokenizer.eos_token_id is not None:
            ids.add(int(self.tokenizer.eos_token_id))
        return ids

    def encode(self, prompt: str) -> list[int]:
        """The ids the model is given for a prompt (through the chat template where used)."""
        return prompt_token_ids(self.tokenizer, prompt, self._chat_enabled())

    def _chat_enabled(self) -> bool:
        self.load()
        return self._chat

    # -- generation --------------------------------------------------------------------------

    def generate(
        self, requests: Sequence[GenerationRequest], *, progress: bool = True
    ) -> Iterator[Generation]:
        """Yield a ``Generation`` per request, one batch at a time (longest prompts first; requests
        of one sampling setting — ``n``, temperature, seed — share a batch)."""
        requests = list(requests)
        if not requests:
            return
        settings = [(*request_sampling(r, self.temperature), self.seed if r.seed is None else r.seed)
                    for r in requests]
        encoded = [self.encode(r.prompt) for r in requests]
        order = sorted(range(len(requests)), key=lambda i: (settings[i], -len(encoded[i])))
        with progress_bar(self.name, len(requests), progress) as bar:
            for (n, temperature, seed), group in groupby(order, key=lambda i: settings[i]):
                indices = list(group)
                per_batch = max(1, self.batch_size // n)  # batch_size counts sequences
                for start in range(0, len(indices), per_batch):
                    chunk = indices[start : start + per_batch]
                    yield from self._generate_batch([requests[i] for i in chunk], [encoded[i] for i in chunk],
                                                    n=n, temperature=temperature, seed=seed)
                    bar.update(len(chunk))

    def _generate_batch(self, requests: list[GenerationRequest], ids: list[list[int]], *,
                        n: int = 1, temperature: float = 0.0, seed: int = 0) -> list[Generation]:
        import torch

        tokenizer, model = self.tokenizer, self.model
        batch = tokenizer.pad({"input_ids": ids}, padding=True, return_tensors="pt").to(self._device)
        width = batch["input_ids"].shape[1]
        stops = sorted({s for r in requests for s in r.stop if s})
        row_stops = [list(r.stop) for r in requests for _ in range(n)]
        criteria = [StopOnStrings(tokenizer, row_stops, width)] if stops else []
        raw = self.logprob_kind == "raw"
        if temperature > 0:
            torch.manual_seed(_batch_seed(seed, [r.example_id for r in requests]))
        with torch.inference_mode():
            inputs, config = dict(batch), self._generation_config(temperature, n)
            if n > 1 and width > 1:  # the prompts' cache is computed once and shared by their n samples
                inputs, config = self._shared_prompt_cache(batch, n), self._generation_config(temperature)
            out = model.generate(**inputs, generation_config=config,
                                 stopping_criteria=_criteria_list(criteria))
        new = out.sequences[:, width:]
        logprobs, entropies = self._token_logprobs(out, new, raw)
        eos = self.eos_ids()
        results = []
        for index, request in enumerate(requests):
            texts, first = [], None
            for row in range(index * n, index * n + n):
                row_ids = new[row].tolist()
                trimmed = trim_output(row_ids, self._decode, request.stop, eos)
                texts.append(trimmed.text)
                if first is None:
                    first = (row, row_ids[: trimmed.n_tokens], trimmed)
            row, kept, trimmed = first
            results.append(
                Generation(
                    example_id=request.example_id,
                    prompt=request.prompt,
                    text=trimmed.text,
                    tokens=decode_batch(tokenizer, [[t] for t in kept], skip_special_tokens=False),
                    logprobs=[float(x) for x in logprobs[row, : trimmed.n_tokens].tolist()],
                    entropies=[float(x) for x in entropies[row, : trimmed.n_tokens].tolist()],
                    logprob_kind=self.logprob_kind,
                    finish_reason=trimmed.finish_reason,
                    model=model_label(self.model_name, self.adapter),
                    backend=self.name,
                    samples=texts if n > 1 else [],
                )
            )
        return results

    def _shared_prompt_cache(self, batch: Any, n: int) -> dict[str, Any]:
        """``generate`` inputs for ``n`` samples of each prompt with the prompt's key/value cache
        computed once: all but the last prompt token run through the model, the cache and the
        inputs are repeated ``n`` times per row, and ``generate`` starts from the last token."""
        ids, mask = batch["input_ids"], batch["attention_mask"]
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        import transformers.generation.utils as generation

        prefix = self.model(input_ids=ids[:, :-1], attention_mask=mask[:, :-1],
                            position_ids=positions[:, :-1], use_cache=True)
        cache = getattr(prefix, "cache", None) or prefix.past_key_values
        cache.batch_repeat_interleave(n)
        # transformers >= 5.24 names it `cache` (`past_key_values` is deprecated there)
        name = "cache" if "cache" in getattr(generation, "ALL_CACHE_NAMES", ()) else "past_key_values"
        return {"input_ids": ids.repeat_interleave(n, dim=0),
                "attention_mask": mask.repeat_interleave(n, dim=0), name: cache}

    # -- scoring -----------------------------------------------------------------------------

    def score(self, requests: Sequence[ScoreRequest], *, progress: bool = True) -> Iterator[Scores]:
        """Yield the ``Scores`` of each request: log P(continuation | prompt) of each of its
        continuations (its own tokenization appended to the prompt's ids), from one forward pass
        per batch of ``batch_size`` rows. Continuations that differ only in their last token
        (``" A"`` / ``" B"``, however the tokenizer splits them) share one row: the prompt and
        their common tokens once, each one's last token read from the same final position."""
        requests = list(requests)
        rows = []  # (request index, prompt ids, shared ids, [(continuation index, its last token)])
        for i, request in enumerate(requests):
            prompt = self.encode(request.prompt)
            tokenized = [list(self.tokenizer(t, add_special_tokens=False)["input_ids"])
                         for t in request.continuations]
            rows += _score_rows_of(i, prompt, tokenized)
        values: list[list[float | None]] = [[None] * len(r.continuations) for r in requests]
        left = [0] * len(requests)  # rows still to score, per request
        for row in rows:
            left[row[0]] += 1
        rows.sort(key=lambda row: -(len(row[1]) + len(row[2])))
        with progress_bar(f"{self.name} score", len(requests), progress) as bar:
            for done in [i for i, count in enumerate(left) if count == 0]:  # nothing to score
                yield self._scores(requests[done], values[done])
                bar.update(1)
            for start in range(0, len(rows), self.batch_size):
                chunk = rows[start : start + self.batch_size]
                found_rows = self._score_rows([r[1:] for r in chunk])
                for (i, _, _, targets), found in zip(chunk, found_rows, strict=True):
                    for (j, _), value in zip(targets, found, strict=True):
                        values[i][j] = value
                    left[i] -= 1
                    if left[i] == 0:
                        yield self._scores(requests[i], values[i])
                        bar.update(1)

    def _scores(self, request: ScoreRequest, values: list[float | None]) -> Scores:
        return Scores(example_id=request.example_id, prompt=request.prompt,
                      continuations=list(request.continuations), logprobs=values,
                      model=model_label(self.model_name, self.adapter), backend=self.name)

    def _score_rows(self, rows: list[tuple[list[int], list[int], list[tuple[int, int]]]]
                    ) -> list[list[float]]:
        """For each row (prompt ids, shared ids, [(continuation index, last token)]): the summed
        log-probability of the shared ids after the prompt plus that of each last token after
        both (one right-padded forward pass for all rows)."""
        import torch

        width = max(len(p) + len(c) for p, c, _ in rows)
        input_ids = torch.full((len(rows), width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, (prompt, shared, _) in enumerate(rows):
            input_ids[r, : len(prompt) + len(shared)] = torch.tensor(prompt + shared)
            mask[r, : len(prompt) + len(shared)] = 1
        with torch.inference_mode():
            logits = self.model(input_ids=input_ids.to(self._device),
                                attention_mask=mask.to(self._device)).logits.float()
        out = []
        for r, (prompt, shared, targets) in enumerate(rows):
            at = torch.arange(len(prompt) - 1, len(prompt) + len(shared))  # predicting shared, then the last
            logp = torch.log_softmax(logits[r, at.to(logits.device)], dim=-1).cpu()
            common = float(sum(logp[k, t] for k, t in enumerate(shared)))
            out.append([common + float(logp[-1, last]) for _, last in targets])
        return out

    def _decode(self, ids: Sequence[int]) -> str:
        return self._tokenizer.decode(list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def _token_logprobs(self, out: Any, new: Any, raw: bool) -> tuple[Any, Any]:
        """``[rows, steps]`` log-probabilities of the chosen tokens and entropies (nats) of each
        step's distribution, in float32 on the CPU."""
        import torch

        steps = out.logits if raw else out.scores
        if not steps:
            empty = torch.zeros(new.shape[0], 0)
            return empty, empty
        chosen, entropy = [], []
        for t, step in enumerate(steps):
            logp = torch.log_softmax(step.float(), dim=-1)
            chosen.append(logp.gather(1, new[:, t : t + 1]).squeeze(1))
            entropy.append(-(logp.exp() * logp.nan_to_num(neginf=0.0)).sum(-1))
        return torch.stack(chosen, dim=1).cpu(), torch.stack(entropy, dim=1).cpu()

    def _generation_config(self, temperature: float | None = None, n: int = 1) -> Any:
        import copy

        temperature = self.temperature if temperature is None else temperature
        config = copy.deepcopy(self.model.generation_config)
        sample = temperature > 0
        config.do_sample = sample
        config.num_return_sequences = n
        config.max_new_tokens = self.max_new_tokens
        config.max_length = None
        config.num_beams = 1
        # plain temperature sampling, or plain greedy: no top-k/top-p left over from the model
        config.temperature = temperature if sample else 1.0
        # (top_k None would fall back to transformers' default of 50 when sampling)
        config.top_k = 0 if sample else None
        config.top_p = 1.0
        config.min_p = None
        config.update(**NEUTRAL_PROCESSING)  # whatever the model's generation_config sets
        # min_length as well only where the model sets one: both set, transformers warns at each call
        # (a field left None is filled from the model's own config)
        config.min_length = None if not self.model.generation_config.min_length else 0
        config.pad_token_id = self.tokenizer.pad_token_id
        config.eos_token_id = sorted(self.eos_ids())
        config.return_dict_in_generate = True
        raw = self.logprob_kind == "raw"
        config.output_logits = raw
        config.output_scores = not raw
        return config


ScoreRow = tuple[int, list[int], list[int], list[tuple[int, int]]]  # request, prompt, shared, targets


def _score_rows_of(index: int, prompt: list[int], continuations: list[list[int]]) -> list[ScoreRow]:
    """The rows that score one request: one shared row when every continuation is the same ids
    plus one last token of its own, else one row per continuation (an empty continuation, or
    an empty prompt, gets no row: no value)."""
    if not prompt:
        return []
    kept = [(j, ids) for j, ids in enumerate(continuations) if ids]
    split = split_last_tokens([ids for _, ids in kept])
    if split is not None:
        shared, lasts = split
        return [(index, prompt, shared, [(j, last) for (j, _), last in zip(kept, lasts, strict=True)])]
    return [(index, prompt, ids[:-1], [(j, ids[-1])]) for j, ids in kept]


def _batch_seed(seed: int, example_ids: Sequence[str]) -> int:
    """The generator seed of one sampled batch: from the request seed and the batch's example ids."""
    digest = hashlib.sha256(repr((int(seed), list(example_ids))).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % (2**63)


#: logits processors a model's generation_config may switch on, switched off: the backends
#: decode alike (vllm and openai pin the same), plain greedy or plain temperature sampling.
#: Each has a neutral value: transformers fills a field left None from the model's config.
NEUTRAL_PROCESSING: dict[str, Any] = {
    "repetition_penalty": 1.0, "encoder_repetition_penalty": 1.0, "no_repeat_ngram_size": 0,
    "typical_p": 1.0, "epsilon_cutoff": 0.0, "eta_cutoff": 0.0, "min_new_tokens": 0,
    "renormalize_logits": False,
}


class StopOnStrings:
    """Ends each row of a batch once its generated text contains one of that row's stop
    strings; only the last few tokens are decoded at each step."""

    def __init__(self, tokenizer: Any, stops: list[list[str]], prompt_width: int) -> None:
        self.tokenizer = tokenizer
        self.stops = stops
        self.prompt_width = prompt_width
        longest = max((len(s.encode("utf-8")) for row in stops for s in row), default=1)
        self.window = longest + 2  # a token holds at least one byte; +2 for a partial character

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        tails = input_ids[:, self.prompt_width :][:, -self.window :].tolist()
        texts = decode_batch(self.tokenizer, tails)
        done = [any(s in text for s in row) for text, row in zip(texts, self.stops, strict=True)]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


def _criteria_list(criteria: list[Any]) -> Any:
    from transformers import StoppingCriteriaList

    return StoppingCriteriaList(criteria)  # any callable with the StoppingCriteria signature


def pick_device(setting: str) -> str:
    """``auto``: this process's CUDA device if available (``cuda:LOCAL_RANK`` under a multi-process
    launch, where a bare ``cuda`` would put every process on the first GPU), else ``mps``, else
    ``cpu``; otherwise the setting."""
    import os

    import torch

    if setting != "auto":
        return setting
    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0') or 0)}"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(setting: str, device: str) -> Any:
    """``auto``: bfloat16 on a CUDA GPU that supports it, else float32."""
    import torch

    if setting != "auto":
        return getattr(torch, setting)
    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def _dtype_argument(dtype: Any) -> dict[str, Any]:
    """``dtype=`` for transformers >= 4.56 (where ``torch_dtype=`` is deprecated), else ``torch_dtype=``."""
    import transformers

    major, minor = (int(part) for part in transformers.__version__.split(".")[:2])
    return {"dtype": dtype} if (major, minor) >= (4, 56) else {"torch_dtype": dtype}

