"""The ``vllm`` backend: offline generation with ``vllm.LLM`` — how a run goes beyond one
GPU (``tensor_parallel_size`` splits the model, ``data_parallel_size`` runs copies of it) and
how it gets vLLM's throughput on one. An adapter is served with ``max_lora_rank`` read from its
``adapter_config.json`` (rounded up to a rank vLLM accepts) unless set.

vLLM is an optional extra (``pip install "calibration-harness[vllm]"``), imported only when
the backend loads. Log-probabilities: vLLM's default has changed across versions (V0
reported them after temperature and penalties, the V1 engine before). Where the engine
takes ``logprobs_mode`` this backend asks for ``raw_logprobs``; what it records is read from
the engine once built (its ``logprobs_mode``, else ``raw`` for a V1 engine and ``processed``
for V0, which vLLM 0.8-0.9 may fall back to whatever was asked).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, ParameterError
from harness.plugins.backends.common import (
    BackendBase,
    chat_setting,
    check_positive,
    covering_prefix,
    decode_batch,
    failed_generation,
    first_line,
    model_label,
    progress_bar,
    prompt_token_ids,
    use_chat_template,
)
from harness.records import Generation
from harness.strategies import GenerationRequest

#: decoding as the other backends decode: plain greedy (or plain temperature sampling), none of
#: the penalties or top-k/p that a model's generation_config may set elsewhere
PINNED_SAMPLING = {
    "repetition_penalty": 1.0, "presence_penalty": 0.0, "frequency_penalty": 0.0,
    "top_p": 1.0, "top_k": -1, "min_p": 0.0,
}
INSTALL_HINT = (
    'the vllm backend needs vLLM, a CUDA-only optional extra: pip install "calibration-harness[vllm]"'
)


class VLLMBackend(BackendBase):
    """Generation with ``vllm.LLM``; an adapter is served through ``LoRARequest``.

    Requests are handed to vLLM ``batch_size`` at a time (vLLM schedules within each
    call), and each call's results are yielded as soon as it returns.
    """

    name = "vllm"

    def __init__(
        self,
        model: str,
        adapter: str | None = None,
        *,
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        tensor_parallel_size: int = 1,
        data_parallel_size: int = 1,
        batch_size: int = 1024,
        dtype: str = "auto",
        chat_template: str | bool = "auto",
        gpu_memory_utilization: float = 0.9,
        max_model_len: int = 0,
        max_lora_rank: int = 0,
        seed: int = 0,
    ) -> None:
        from harness.plugins.models import resolve_model

        if not vllm_installed():
            raise HarnessError(INSTALL_HINT)
        check_positive("tensor_parallel_size", tensor_parallel_size)
        check_positive("data_parallel_size", data_parallel_size)
        check_positive("max_lora_rank", max_lora_rank, allow_zero=True)
        check_positive("batch_size", batch_size)
        check_positive("max_model_len", max_model_len, allow_zero=True)
        if not 0 < gpu_memory_utilization <= 1:
            raise ParameterError(f"gpu_memory_utilization must be in (0, 1], not {gpu_memory_utilization!r}")
        chat_setting(chat_template)
        self._set_generation(model, str(resolve_model(model)), adapter, max_new_tokens, temperature)
        self.tensor_parallel_size = int(tensor_parallel_size)
        self.data_parallel_size = int(data_parallel_size)
        self.batch_size = int(batch_size)
        self.dtype = dtype
        self.chat_template = chat_template
        self.gpu_memory_utilization = float(gpu_memory_utilization)
        self.max_model_len = int(max_model_len)
        self.max_lora_rank = lora_rank(adapter, int(max_lora_rank)) if adapter else int(max_lora_rank)
        self.seed = int(seed)
        #: ``raw`` or ``processed``: what the loaded engine reports (known once loaded)
        self.logprob_kind: str | None = None
        self._vllm: Any = None
        self._llm: Any = None
        self._lora: Any = None

    def load(self) -> None:
        """Start the vLLM engine (once)."""
        if self._llm is not None:
            return
        vllm = import_vllm()
        kwargs: dict[str, Any] = {
            "model": self.model_path,
            "tensor_parallel_size": self.tensor_parallel_size,
            "dtype": self.dtype,
            "seed": self.seed,
            "gpu_memory_utilization": self.gpu_memory_utilization,
            "enable_lora": bool(self.adapter),
        }
        names = engine_arg_names(vllm)
        if self.adapter:
            kwargs["max_lora_rank"] = self.max_lora_rank
        if self.max_model_len:
            kwargs["max_model_len"] = self.max_model_len
        if self.data_parallel_size > 1:
            if names and "data_parallel_size" not in names:
                raise ParameterError(
                    f"data_parallel_size = {self.data_parallel_size}: the installed vLLM "
                    f"{getattr(vllm, '__version__', '?')} has no data parallelism (vLLM >= 0.8.5 has)"
                )
            kwargs["data_parallel_size"] = self.data_parallel_size
        if "logprobs_mode" in names:
            kwargs["logprobs_mode"] = "raw_logprobs"
        self._llm = vllm.LLM(**kwargs)
        # what the engine that was built reports (a V1 request may fall back to V0, ...)
        self.logprob_kind = built_logprob_kind(self._llm, vllm)
        if self.adapter:
            from vllm.lora.request import LoRARequest

            self._lora = LoRARequest("adapter", 1, self.adapter)
        self._vllm = vllm

    def generate(
        self, requests: Sequence[GenerationRequest], *, progress: bool = True
    ) -> Iterator[Generation]:
        requests = list(requests)
        if not requests:
            return
        self.load()
        tokenizer = self._llm.get_tokenizer()
        chat = use_chat_template(tokenizer, self.chat_template)
        with progress_bar(self.name, len(requests), progress) as bar:
            for start in range(0, len(requests), self.batch_size):
                chunk = requests[start : start + self.batch_size]
                prompts = [{"prompt_token_ids": prompt_token_ids(tokenizer, r.prompt, chat)} for r in chunk]
                params = [self._sampling_params(r) for r in chunk]
                for request, output in zip(chunk, self._outputs(prompts, params), strict=True):
                    if isinstance(output, ValueError):
                        error = f"vLLM refused the request: {first_line(output)}"
                        yield failed_generation(request, self, self.logprob_kind or "raw", error)
                    else:
                        yield self._to_generation(request, output, tokenizer)
                bar.update(len(chunk))

    def _outputs(self, prompts: list[dict[str, Any]], params: list[Any]) -> list[Any]:
        """vLLM's output for each prompt, or the ``ValueError`` it refused that prompt with. vLLM
        refuses a whole call for one bad prompt (one longer than ``max_model_len``): such a call
        is retried one prompt at a time, so only that prompt fails."""
        try:
            return list(self._llm.generate(prompts, params, use_tqdm=False, lora_request=self._lora))
        except ValueError as exc:
            if len(prompts) == 1:
                return [exc]
        one_by_one = (self._outputs(prompts[i : i + 1], params[i : i + 1]) for i in range(len(prompts)))
        return [output for outputs in one_by_one for output in outputs]


    def _sampling_params(self, request: GenerationRequest) -> Any:
        kwargs: dict[str, Any] = {
            "temperature": self.temperature,
            "max_tokens": self.max_new_tokens,
            "logprobs": 1,  # the chosen token's log-probability is always among those returned
            "stop": [s for s in request.stop if s] or None,
            **PINNED_SAMPLING,
        }
        if self.temperature > 0:
            kwargs["seed"] = self.seed
        return self._vllm.SamplingParams(**kwargs)

    def _to_generation(self, request: GenerationRequest, output: Any, tokenizer: Any) -> Generation:
        completion = output.outputs[0]
        ids = list(completion.token_ids)
        text = completion.text
        reason = finish_reason(completion.finish_reason, completion.stop_reason)
        label = model_label(self.model_name, self.adapter)
        if reason not in ("stop", "eos", "length"):
            return Generation(
                example_id=request.example_id,
                prompt=request.prompt,
                text=text,
                finish_reason=reason,
                model=label,
                backend=self.name,
                logprob_kind=self.logprob_kind or "raw",
                error=f"vLLM finished the request with {reason!r}",
            )

        def decode(k: int) -> str:
            return tokenizer.decode(ids[:k], skip_special_tokens=True)

        # vLLM keeps the token that held a stop string, and the end-of-sequence token
        n = len(ids)
        if reason != "length":
            n = covering_prefix(n, lambda k: decode(k).startswith(text))
        # each token's text from its id, as the hf backend decodes it: vLLM's ``decoded_token``
        # is a raw vocabulary piece ("Ġred", "Ċ") in some versions (V1, 0.7.3-0.9.2)
        tokens = decode_batch(tokenizer, [[token_id] for token_id in ids[:n]], skip_special_tokens=False)
        logprobs = []
        for position, token_id in enumerate(ids[:n]):
            entry = completion.logprobs[position][token_id] if completion.logprobs else None
            logprobs.append(float(entry.logprob) if entry is not None else None)
        return Generation(
            example_id=request.example_id,
            prompt=request.prompt,
            text=text,
            tokens=tokens,
            logprobs=logprobs if completion.logprobs else [],
            logprob_kind=self.logprob_kind or "raw",
            finish_reason=reason,
            model=label,
            backend=self.name,
        )


def finish_reason(reason: str | None, stop_reason: int | str | None) -> str:
    """vLLM's ``finish_reason``/``stop_reason`` as ``stop`` (a stop string), ``eos`` (an
    end-of-sequence or stop token) or ``length``; anything else as vLLM gave it."""
    if reason == "stop":
        return "stop" if isinstance(stop_reason, str) else "eos"
    return str(reason)


def vllm_installed() -> bool:
    module = sys.modules.get("vllm", False)
    if module is not False:
        return module is not None  # None: imports of it are blocked
    return importlib.util.find_spec("vllm") is not None


#: the LoRA ranks every vLLM since 0.6 accepts for ``max_lora_rank`` (``LoRAConfig``)
VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)


def lora_rank(adapter: str, max_lora_rank: int) -> int:
    """The ``max_lora_rank`` to serve ``adapter`` with: the rank in its ``adapter_config.json``
    rounded up to one vLLM accepts (``max_lora_rank = 0``), or the value given, checked."""
    config = Path(adapter) / "adapter_config.json"
    try:
        rank = int(json.loads(config.read_text(encoding="utf-8"))["r"])
    except FileNotFoundError:
        rank = 0  # the adapter is named on a server, or not written yet: no rank to read
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ParameterError(f"{config}: cannot read the adapter's rank r ({exc})") from None
    if max_lora_rank:
        if max_lora_rank not in VLLM_LORA_RANKS:
            raise ParameterError(
                f"max_lora_rank = {max_lora_rank}; vLLM accepts {', '.join(map(str, VLLM_LORA_RANKS))}"
            )
        if max_lora_rank < rank:
            raise ParameterError(f"max_lora_rank = {max_lora_rank} is below the rank r = {rank} of {config}")
        return max_lora_rank
    fits = [r for r in VLLM_LORA_RANKS if r >= rank]
    if not fits:
        raise ParameterError(f"the adapter's rank r = {rank} is above vLLM's largest, {VLLM_LORA_RANKS[-1]}")
    return fits[0] if rank else 16  # no rank to read: vLLM's own default


def built_logprob_kind(llm: Any, vllm: Any) -> str:
    """``raw`` or ``processed``: what the engine ``llm`` runs reports. Its ``logprobs_mode``
    where it has one, else its generation: V1 engines report raw log-probabilities, V0 ones
    processed ones."""
    engine = getattr(llm, "llm_engine", None)
    mode = getattr(getattr(engine, "model_config", None), "logprobs_mode", None)
    if mode is not None:
        return "processed" if "processed" in str(mode) else "raw"
    if engine is not None:
        return "raw" if ".v1." in type(engine).__module__ else "processed"
    return "raw" if uses_v1_engine(vllm) else "processed"


def import_vllm() -> Any:
    try:
        import vllm
    except ImportError:
        raise HarnessError(INSTALL_HINT) from None
    return vllm


def engine_arg_names(vllm: Any) -> set[str]:
    """The names of the engine arguments the installed vLLM accepts."""
    engine_args = getattr(vllm, "EngineArgs", None)
    if engine_args is None or not dataclasses.is_dataclass(engine_args):
        return set()
    return {f.name for f in dataclasses.fields(engine_args)}


def uses_v1_engine(vllm: Any) -> bool:
    """Whether the installed vLLM runs its V1 engine (the default from 0.8; the only one later)."""
    envs = getattr(vllm, "envs", None)
    flag = getattr(envs, "VLLM_USE_V1", None) if envs is not None else None
    if flag is not None:
        return bool(flag)
    version = str(getattr(vllm, "__version__", "0"))
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        return True
    return (major, minor) >= (0, 8)
