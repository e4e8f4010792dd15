"""The ``hf`` backend: generation in-process with transformers (and peft for an adapter).

Prompts are tokenized once, sorted by length and generated in left-padded batches; every
generated token's log-probability comes from the same ``generate`` call that chose it:
``raw`` is the log-softmax of the model's unprocessed logits at the chosen token (what
calibration needs; independent of temperature), ``processed`` that of the scores after the
logits processors (temperature, penalties) as ``compute_transition_scores`` gives them.
Results are yielded batch by batch, so the experiment can append them as they come.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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
    trim_output,
    use_chat_template,
)
from harness.records import Generation
from harness.strategies import GenerationRequest

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
        """Yield a ``Generation`` per request, one batch at a time (longest prompts first)."""
        requests = list(requests)
        if not requests:
            return
        encoded = [self.encode(r.prompt) for r in requests]
        order = sorted(range(len(requests)), key=lambda i: -len(encoded[i]))
        with progress_bar(self.name, len(requests), progress) as bar:
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                yield from self._generate_batch([requests[i] for i in chunk], [encoded[i] for i in chunk])
                bar.update(len(chunk))

    def _generate_batch(self, requests: list[GenerationRequest], ids: list[list[int]]) -> list[Generation]:
        import torch

        tokenizer, model = self.tokenizer, self.model
        batch = tokenizer.pad({"input_ids": ids}, padding=True, return_tensors="pt").to(self._device)
        width = batch["input_ids"].shape[1]
        stops = sorted({s for r in requests for s in r.stop if s})
        criteria = [StopOnStrings(tokenizer, [list(r.stop) for r in requests], width)] if stops else []
        raw = self.logprob_kind == "raw"
        if self.temperature > 0:
            torch.manual_seed(self.seed)
        with torch.inference_mode():
            out = model.generate(
                **batch,
                generation_config=self._generation_config(),
                stopping_criteria=_criteria_list(criteria),
            )
        new = out.sequences[:, width:]
        logprobs = self._token_logprobs(out, new, raw)
        eos = self.eos_ids()
        results = []
        for row, request in enumerate(requests):
            row_ids = new[row].tolist()
            trimmed = trim_output(row_ids, self._decode, request.stop, eos)
            kept = row_ids[: trimmed.n_tokens]
            results.append(
                Generation(
                    example_id=request.example_id,
                    prompt=request.prompt,
                    text=trimmed.text,
                    tokens=decode_batch(tokenizer, [[t] for t in kept], skip_special_tokens=False),
                    logprobs=[float(x) for x in logprobs[row, : trimmed.n_tokens].tolist()],
                    logprob_kind=self.logprob_kind,
                    finish_reason=trimmed.finish_reason,
                    model=model_label(self.model_name, self.adapter),
                    backend=self.name,
                )
            )
        return results

    def _decode(self, ids: Sequence[int]) -> str:
        return self._tokenizer.decode(list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def _token_logprobs(self, out: Any, new: Any, raw: bool) -> Any:
        """``[batch, steps]`` log-probabilities of the chosen tokens, in float32 on the CPU."""
        import torch

        if raw:
            steps = [
                torch.log_softmax(step.float(), dim=-1).gather(1, new[:, t : t + 1]).squeeze(1)
                for t, step in enumerate(out.logits)
            ]
            return torch.stack(steps, dim=1).cpu() if steps else torch.zeros(new.shape[0], 0)
        scores = self.model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
        return scores.float().cpu()

    def _generation_config(self) -> Any:
        import copy

        config = copy.deepcopy(self.model.generation_config)
        sample = self.temperature > 0
        config.do_sample = sample
        config.max_new_tokens = self.max_new_tokens
        config.max_length = None
        config.num_beams = 1
        # plain temperature sampling, or plain greedy: no top-k/top-p left over from the model
        config.temperature = self.temperature if sample else 1.0
        # (top_k None would fall back to transformers' default of 50 when sampling)
        config.top_k = 0 if sample else None
        config.top_p = 1.0
        config.min_p = None
        config.update(**NEUTRAL_PROCESSING)  # whatever the model's generation_config sets
        config.pad_token_id = self.tokenizer.pad_token_id
        config.eos_token_id = sorted(self.eos_ids())
        config.return_dict_in_generate = True
        raw = self.logprob_kind == "raw"
        config.output_logits = raw
        config.output_scores = not raw
        return config


#: logits processors a model's generation_config may switch on, switched off: the backends
#: decode alike (vllm and openai pin the same), plain greedy or plain temperature sampling.
#: Each has a neutral value: transformers fills a field left None from the model's config.
NEUTRAL_PROCESSING: dict[str, Any] = {
    "repetition_penalty": 1.0, "encoder_repetition_penalty": 1.0, "no_repeat_ngram_size": 0,
    "typical_p": 1.0, "epsilon_cutoff": 0.0, "eta_cutoff": 0.0, "min_length": 0, "min_new_tokens": 0,
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

