"""The ``vllm`` backend: offline generation with ``vllm.LLM`` — how a run goes beyond one
GPU (``tensor_parallel_size`` splits the model, ``data_parallel_size`` runs copies of it) and
how it gets vLLM's throughput on one.

Data parallelism (``data_parallel_size``) is independent engines: one process per group of
``tensor_parallel_size`` GPUs, each with an engine of its own and a contiguous share of every
batch. vLLM's own offline data-parallel mode (``VLLM_DP_*`` with ``data_parallel_size``) serves
MoE models only: vLLM 0.14 to 0.31 (read in their sources) refuse it for a dense model
("Offline data parallel mode is not supported/useful for dense models", vllm/config/parallel.py),
refuse ``LLM(data_parallel_size > 1)`` in one process, and from 0.21 refuse external data
parallelism for non-MoE models in ``EngineArgs``; for dense models vLLM says to launch
independent instances, which is what this backend does (for MoE models too: each engine then
holds every expert). The adapter goes to every engine with every call (``LoRARequest``).

An adapter is served with ``max_lora_rank`` read from its ``adapter_config.json``, rounded up
to a rank the installed vLLM accepts (its ``MaxLoRARanks``, else what its ``LoRAConfig``
takes: (8, 16, 32, 64, 128, 256) in the 0.6 era, (1, 8, ..., 256, 320, 512) in current ones),
unless set; a value it does not accept is one line.

vLLM is an optional extra (``pip install "calibration-harness[vllm]"``), imported only when
the backend loads. Log-probabilities: vLLM's default has changed across versions (V0
reported them after temperature and penalties, the V1 engine before). Where the engine
takes ``logprobs_mode`` this backend asks for ``raw_logprobs``; what it records is read from
the engine once built (its ``logprobs_mode``, else ``raw`` for a V1 engine and ``processed``
for V0, which vLLM 0.8-0.9 may fall back to whatever was asked).

Beyond one greedy answer: a request for ``n`` samples is one ``SamplingParams(n=...)`` with
the request's temperature and seed (vLLM seeds each request on its own, so a prompt's samples
do not depend on its batch); ``score`` reads ``prompt_logprobs`` of the prompt followed by
each continuation (one token generated, ignored). ``entropies`` come with ``top_logprobs >
0``: the entropy of the top-``top_logprobs`` log-probabilities vLLM returns, renormalised —
an approximation of the full distribution's entropy (exact once ``top_logprobs`` covers the
vocabulary; below it otherwise, at most log ``top_logprobs``), since vLLM returns no more.
"""

from __future__ import annotations

import atexit
import dataclasses
import importlib.util
import json
import os
import sys
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, ParameterError
from harness.plugins.backends.common import (
    TABLE_FORM,
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
    renormalised_entropy,
    request_sampling,
    table_parameter,
    use_chat_template,
)
from harness.records import Generation, Scores
from harness.strategies import GenerationRequest, ScoreRequest

#: decoding as the other backends decode: plain greedy (or plain temperature sampling), none of
#: the penalties or top-k/p that a model's generation_config may set elsewhere
PINNED_SAMPLING = {
    "repetition_penalty": 1.0, "presence_penalty": 0.0, "frequency_penalty": 0.0,
    "top_p": 1.0, "top_k": -1, "min_p": 0.0,
}
INSTALL_HINT = (
    'the vllm backend needs vLLM, a CUDA-only optional extra: pip install "calibration-harness[vllm]"'
)
#: the default of ``engine_args``: no further engine argument
NO_ARGS: Mapping[str, Any] = types.MappingProxyType({})
#: engine arguments the backend sets from a parameter of its own (argument -> parameter, or why)
OWNED_ENGINE_ARGS = {
    "model": "the run's --model", "tensor_parallel_size": "tensor_parallel_size", "dtype": "dtype",
    "seed": "seed", "gpu_memory_utilization": "gpu_memory_utilization", "max_model_len": "max_model_len",
    "max_lora_rank": "max_lora_rank", "enable_lora": "the adapter (set when there is one)",
    "data_parallel_size": "data_parallel_size (independent engines: vLLM refuses its own for dense models)",
    "logprobs_mode": "the backend (raw_logprobs, recorded as the generations' logprob_kind)",
}
#: every rank some vLLM since 0.6 accepts for ``max_lora_rank`` (each version accepts a subset)
ANY_VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


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
        top_logprobs: int = 0,
        seed: int = 0,
        engine_args: Mapping[str, Any] | str = NO_ARGS,
    ) -> None:
        from harness.plugins.models import resolve_model

        if not vllm_installed():
            raise HarnessError(INSTALL_HINT)
        check_positive("tensor_parallel_size", tensor_parallel_size)
        check_positive("data_parallel_size", data_parallel_size)
        check_positive("max_lora_rank", max_lora_rank, allow_zero=True)
        check_positive("batch_size", batch_size)
        check_positive("max_model_len", max_model_len, allow_zero=True)
        check_positive("top_logprobs", top_logprobs, allow_zero=True)
        if not 0 < gpu_memory_utilization <= 1:
            raise ParameterError(f"gpu_memory_utilization must be in (0, 1], not {gpu_memory_utilization!r}")
        chat_setting(chat_template)
        #: more ``vllm.LLM`` engine arguments, as given (names checked against the installed
        #: vLLM's ``EngineArgs`` when the engine loads)
        self.engine_args = own_engine_args(engine_args)
        self._set_generation(model, str(resolve_model(model)), adapter, max_new_tokens, temperature)
        self.tensor_parallel_size = int(tensor_parallel_size)
        self.data_parallel_size = int(data_parallel_size)
        self.batch_size = int(batch_size)
        self.dtype = dtype
        self.chat_template = chat_template
        self.gpu_memory_utilization = float(gpu_memory_utilization)
        self.max_model_len = int(max_model_len)
        self.top_logprobs = int(top_logprobs)
        self.seed = int(seed)
        #: the adapter's rank r (0: none to read) and ``max_lora_rank`` as given (0: from r);
        #: checked here against every vLLM, and against the installed one when it loads
        self._adapter_rank = adapter_rank(adapter) if adapter else 0
        self.max_lora_rank = lora_rank(self._adapter_rank, int(max_lora_rank), ANY_VLLM_LORA_RANKS)
        #: ``raw`` or ``processed``: what the loaded engine reports (known once loaded)
        self.logprob_kind: str | None = None
        self._vllm: Any = None
        self._engine: Any = None
        self._tokenizer: Any = None
        self._given_rank = int(max_lora_rank)

    @property
    def capabilities(self) -> frozenset[str]:
        """What this backend serves as built: entropies only with ``top_logprobs > 0``."""
        return frozenset({"logprobs", "samples", "scores"} | ({"entropies"} if self.top_logprobs else set()))

    def load(self) -> None:
        """Start the vLLM engine (once): in this process, or one process per data-parallel rank."""
        if self._engine is not None:
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
            accepted = accepted_lora_ranks(vllm)
            self.max_lora_rank = lora_rank(self._adapter_rank, self._given_rank, accepted,
                                           getattr(vllm, "__version__", "?"))
            kwargs["max_lora_rank"] = self.max_lora_rank
        if self.max_model_len:
            kwargs["max_model_len"] = self.max_model_len
        if "logprobs_mode" in names:
            kwargs["logprobs_mode"] = "raw_logprobs"
        kwargs.update(checked_engine_args(self.engine_args, names, getattr(vllm, "__version__", "?")))
        if self.data_parallel_size > 1:
            engine: Any = RankedEngines(kwargs, self.adapter, self.data_parallel_size,
                                        self.tensor_parallel_size)
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        else:
            engine = LocalEngine(vllm, kwargs, self.adapter)
            self._tokenizer = engine.llm.get_tokenizer()
        self._engine = engine
        self.logprob_kind = engine.logprob_kind
        self._vllm = vllm

    def close(self) -> None:
        """Stop the data-parallel ranks (the in-process engine goes with this process)."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    # -- generation --------------------------------------------------------------------------

    def generate(
        self, requests: Sequence[GenerationRequest], *, progress: bool = True
    ) -> Iterator[Generation]:
        requests = list(requests)
        if not requests:
            return
        params = [self._sampling_params(r) for r in requests]  # bad n / temperature: before any work
        self.load()
        tokenizer = self._tokenizer
        chat = use_chat_template(tokenizer, self.chat_template)
        with progress_bar(self.name, len(requests), progress) as bar:
            for start in range(0, len(requests), self.batch_size):
                chunk = requests[start : start + self.batch_size]
                prompts = [{"prompt_token_ids": prompt_token_ids(tokenizer, r.prompt, chat)} for r in chunk]
                outputs = self._engine.generate(prompts, params[start : start + self.batch_size])
                for request, output in zip(chunk, outputs, strict=True):
                    if isinstance(output, str):
                        error = f"vLLM refused the request: {output}"
                        yield failed_generation(request, self, self.logprob_kind or "raw", error)
                    else:
                        yield self._to_generation(request, output, tokenizer)
                bar.update(len(chunk))

    def _sampling_params(self, request: GenerationRequest) -> dict[str, Any]:
        """The ``SamplingParams`` arguments of ``request`` (plain values: they travel to the ranks)."""
        n, temperature = request_sampling(request, self.temperature)
        kwargs: dict[str, Any] = {
            "n": n,
            "temperature": temperature,
            "max_tokens": self.max_new_tokens,
            # the chosen token's log-probability is always among those returned
            "logprobs": max(1, self.top_logprobs),
            "stop": [s for s in request.stop if s] or None,
            **PINNED_SAMPLING,
        }
        if temperature > 0:
            kwargs["seed"] = self.seed if request.seed is None else int(request.seed)
        return kwargs

    def _to_generation(self, request: GenerationRequest, output: dict[str, Any],
                       tokenizer: Any) -> Generation:
        """The ``Generation`` of one request from its plain output (``plain_output``)."""
        completions = output["completions"]
        completion = completions[0]
        ids = list(completion["token_ids"])
        text = completion["text"]
        reason = finish_reason(completion["finish_reason"], completion["stop_reason"])
        label = model_label(self.model_name, self.adapter)
        samples = [c["text"] for c in completions] if len(completions) > 1 else []
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
                samples=samples,
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
        positions = completion["logprobs"]
        logprobs: list[float | None] = []
        entropies: list[float] = []
        for position, token_id in enumerate(ids[:n]):
            entry = positions[position] if positions else {}
            logprobs.append(entry[token_id][0] if token_id in entry else None)
            if self.top_logprobs:
                entropies.append(top_k_entropy(entry, self.top_logprobs))
        return Generation(
            example_id=request.example_id,
            prompt=request.prompt,
            text=text,
            tokens=tokens,
            logprobs=logprobs if positions else [],  # type: ignore[arg-type]
            entropies=entropies if positions else [],
            logprob_kind=self.logprob_kind or "raw",
            finish_reason=reason,
            model=label,
            backend=self.name,
            samples=samples,
        )

    # -- scoring -----------------------------------------------------------------------------

    def score(self, requests: Sequence[ScoreRequest], *, progress: bool = True) -> Iterator[Scores]:
        """Yield the ``Scores`` of each request: log P(continuation | prompt) of each continuation,
        the sum of vLLM's ``prompt_logprobs`` over the continuation's tokens (its own tokenization
        appended to the prompt's ids), ``batch_size`` rows per call."""
        requests = list(requests)
        if not requests:
            return
        self.load()
        tokenizer = self._tokenizer
        chat = use_chat_template(tokenizer, self.chat_template)
        params = {"n": 1, "temperature": 0.0, "max_tokens": 1, "prompt_logprobs": 1, **PINNED_SAMPLING}
        rows = []  # (request index, continuation index, prompt length, ids)
        for i, request in enumerate(requests):
            prompt = prompt_token_ids(tokenizer, request.prompt, chat)
            for j, text in enumerate(request.continuations):
                continuation = list(tokenizer(text, add_special_tokens=False)["input_ids"])
                rows.append((i, j, len(prompt), prompt + continuation))
        values: list[list[float | None]] = [[None] * len(r.continuations) for r in requests]
        errors: list[str | None] = [None] * len(requests)
        left = [len(r.continuations) for r in requests]
        with progress_bar(f"{self.name} score", len(requests), progress) as bar:
            for empty in [i for i, count in enumerate(left) if count == 0]:
                yield self._scores(requests[empty], [], None)
                bar.update(1)
            for start in range(0, len(rows), self.batch_size):
                chunk = rows[start : start + self.batch_size]
                outputs = self._engine.generate([{"prompt_token_ids": ids} for *_, ids in chunk],
                                                [params] * len(chunk))
                for (i, j, length, ids), output in zip(chunk, outputs, strict=True):
                    if isinstance(output, str):
                        errors[i] = f"vLLM refused the request: {output}"
                    else:
                        values[i][j] = continuation_logprob(output["prompt_logprobs"], ids, length)
                    left[i] -= 1
                    if left[i] == 0:
                        yield self._scores(requests[i], values[i], errors[i])
                        bar.update(1)

    def _scores(self, request: ScoreRequest, values: list[float | None], error: str | None) -> Scores:
        return Scores(example_id=request.example_id, prompt=request.prompt,
                      continuations=list(request.continuations), logprobs=values,
                      model=model_label(self.model_name, self.adapter), backend=self.name, error=error)


def continuation_logprob(prompt_logprobs: list[dict[int, tuple[float, int | None]] | None] | None,
                         ids: Sequence[int], start: int) -> float | None:
    """The summed log-probability of ``ids[start:]`` from vLLM's ``prompt_logprobs`` of ``ids``
    (``None``: an empty continuation or prompt, or a position vLLM gave nothing for)."""
    if not prompt_logprobs or start < 1 or start >= len(ids):
        return None
    total = 0.0
    for position in range(start, len(ids)):
        entry = prompt_logprobs[position] if position < len(prompt_logprobs) else None
        if not entry or ids[position] not in entry:
            return None
        total += entry[ids[position]][0]
    return total


def top_k_entropy(entry: dict[int, tuple[float, int | None]], k: int) -> float:
    """The entropy (nats) of one position's top-``k`` log-probabilities, renormalised (vLLM adds
    the chosen token when it is outside the top ``k``: it is left out by its rank)."""
    return renormalised_entropy([lp for lp, rank in entry.values() if rank is None or rank <= k])


# -- engines: vLLM in this process, or one process per data-parallel rank ---------------------

#: one prompt's output as ``plain_output`` gives it, or why vLLM refused the prompt
Output = dict[str, Any] | str


def plain_output(output: Any) -> dict[str, Any]:
    """What this backend reads of one vLLM ``RequestOutput``, as plain values (it crosses
    process boundaries): each completion's text, token ids, per position ``{token id:
    (logprob, rank)}``, finish and stop reasons; the prompt's log-probabilities alike."""

    def positions(items: Any) -> list[dict[int, tuple[float, int | None]] | None] | None:
        if items is None:
            return None
        return [None if item is None else {int(t): (float(lp.logprob), getattr(lp, "rank", None))
                                           for t, lp in item.items()} for item in items]

    return {
        "prompt_logprobs": positions(getattr(output, "prompt_logprobs", None)),
        "completions": [
            {"text": c.text, "token_ids": list(c.token_ids), "logprobs": positions(c.logprobs),
             "finish_reason": c.finish_reason, "stop_reason": c.stop_reason}
            for c in output.outputs
        ],
    }


def engine_outputs(llm: Any, vllm: Any, prompts: list[dict[str, Any]], params: list[dict[str, Any]],
                   lora: Any) -> list[Output]:
    """vLLM's plain output for each prompt, or the first line of the ``ValueError`` it refused that
    prompt with. vLLM refuses a whole call for one bad prompt (one longer than ``max_model_len``):
    such a call is retried one prompt at a time, so only that prompt fails."""
    try:
        sampling = [vllm.SamplingParams(**p) for p in params]
        return [plain_output(o) for o in llm.generate(prompts, sampling, use_tqdm=False, lora_request=lora)]
    except ValueError as exc:
        if len(prompts) == 1:
            return [first_line(exc)]
    return [out for i in range(len(prompts))
            for out in engine_outputs(llm, vllm, prompts[i : i + 1], params[i : i + 1], lora)]


def lora_request(adapter: str | None) -> Any:
    if not adapter:
        return None
    from vllm.lora.request import LoRARequest

    return LoRARequest("adapter", 1, adapter)


class LocalEngine:
    """One ``vllm.LLM`` in this process (tensor parallelism is vLLM's own affair within it)."""

    def __init__(self, vllm: Any, kwargs: dict[str, Any], adapter: str | None) -> None:
        self.vllm = vllm
        self.llm = vllm.LLM(**kwargs)
        # what the engine that was built reports (a V1 request may fall back to V0, ...)
        self.logprob_kind = built_logprob_kind(self.llm, vllm)
        self.lora = lora_request(adapter)

    def generate(self, prompts: list[dict[str, Any]], params: list[dict[str, Any]]) -> list[Output]:
        return engine_outputs(self.llm, self.vllm, prompts, params, self.lora)

    def close(self) -> None:
        pass


class RankedEngines:
    """Data parallelism as independent engines: ``size`` processes, each with its own engine on
    ``tensor_parallel_size`` GPUs of its own (``CUDA_VISIBLE_DEVICES``) and the adapter on every
    call; every batch is split into ``size`` contiguous shares, one per engine, and an engine
    given no share of a batch is not called. No ``VLLM_DP_*`` variable reaches an engine (vLLM
    would take it for its own data-parallel mode, which it refuses for dense models)."""

    def __init__(self, kwargs: dict[str, Any], adapter: str | None, size: int,
                 tensor_parallel_size: int) -> None:
        import multiprocessing

        context = multiprocessing.get_context(_start_method())
        self.ranks = []
        for rank in range(size):
            parent, child = context.Pipe()
            process = context.Process(
                target=_rank_main, name=f"vllm-engine-{rank}",
                args=(child, rank, size, kwargs, adapter, tensor_parallel_size),
            )
            process.start()
            child.close()
            self.ranks.append((process, parent))
        atexit.register(self.close)
        kinds = {self._receive(rank) for rank in range(size)}
        self.logprob_kind = "processed" if "processed" in kinds else "raw"

    def generate(self, prompts: list[dict[str, Any]], params: list[dict[str, Any]]) -> list[Output]:
        size = len(self.ranks)
        bounds = [len(prompts) * r // size for r in range(size + 1)]
        busy = [rank for rank in range(size) if bounds[rank] < bounds[rank + 1]]
        for rank in busy:
            share = slice(bounds[rank], bounds[rank + 1])
            self.ranks[rank][1].send((prompts[share], params[share]))
        results: list[Output] = []
        for rank in busy:
            results.extend(self._receive(rank))
        return results

    def _receive(self, rank: int) -> Any:
        process, conn = self.ranks[rank]
        try:
            status, value = conn.recv()
        except EOFError:
            self.close()
            ended = f"vLLM engine {rank} of the data-parallel group ended (exit code {process.exitcode})"
            raise HarnessError(ended) from None
        if status == "error":
            self.close()
            raise HarnessError(f"vLLM engine {rank} of the data-parallel group: {value}")
        return value

    def close(self) -> None:
        for _, conn in self.ranks:
            try:
                conn.send(None)
            except OSError:
                pass
            conn.close()
        for process, _ in self.ranks:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()
        self.ranks = []


def _rank_main(conn: Any, rank: int, size: int, kwargs: dict[str, Any], adapter: str | None,
               tensor_parallel_size: int) -> None:
    """One engine of the data-parallel group: its GPUs, an engine, then each batch share sent to
    it, until told to stop."""
    for name in [n for n in os.environ if n.startswith("VLLM_DP_")]:
        del os.environ[name]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    devices = visible.split(",") if visible else [str(i) for i in range(size * tensor_parallel_size)]
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(
        devices[rank * tensor_parallel_size : (rank + 1) * tensor_parallel_size])
    try:
        vllm = import_vllm()
        engine = LocalEngine(vllm, kwargs, adapter)
        conn.send(("ok", engine.logprob_kind))
        while (message := conn.recv()) is not None:
            prompts, params = message
            conn.send(("ok", engine.generate(prompts, params)))
    except EOFError:
        pass
    except Exception as exc:  # noqa: BLE001 - the parent reports it as one line
        conn.send(("error", first_line(exc)))


def _start_method() -> str:
    """``fork`` unless CUDA is already initialised here (a forked child cannot use it then)."""
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    return "spawn" if cuda is not None and cuda.is_initialized() else "fork"


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


def adapter_rank(adapter: str) -> int:
    """The rank r in ``adapter``'s ``adapter_config.json`` (0 where there is none to read: an
    adapter named on a server, or not written yet)."""
    config = Path(adapter) / "adapter_config.json"
    try:
        return int(json.loads(config.read_text(encoding="utf-8"))["r"])
    except FileNotFoundError:
        return 0
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ParameterError(f"{config}: cannot read the adapter's rank r ({exc})") from None


def lora_rank(rank: int, max_lora_rank: int, accepted: Sequence[int], version: str = "") -> int:
    """The ``max_lora_rank`` to serve an adapter of rank ``rank`` with: ``rank`` rounded up to
    one of ``accepted`` (``max_lora_rank = 0``; vLLM's default 16 when there is no rank to read),
    or the value given, checked against ``accepted`` and ``rank``."""
    which = f"vLLM {version}" if version else "vLLM"
    if max_lora_rank:
        if max_lora_rank not in accepted:
            listed = ", ".join(map(str, accepted))
            raise ParameterError(f"max_lora_rank = {max_lora_rank}; {which} accepts {listed}")
        if max_lora_rank < rank:
            raise ParameterError(f"max_lora_rank = {max_lora_rank} is below the adapter's rank r = {rank}")
        return max_lora_rank
    if not rank:
        return 16
    fits = [r for r in accepted if r >= rank]
    if not fits:
        raise ParameterError(
            f"the adapter's rank r = {rank} is above the largest {which} accepts, {max(accepted)}")
    return fits[0]


def own_engine_args(value: Any) -> dict[str, Any]:
    """The ``engine_args`` parameter as a dict; its form and the arguments the backend sets itself
    (``OWNED_ENGINE_ARGS``) are checked here, the names when vLLM loads (``checked_engine_args``)."""
    table = table_parameter(value)
    if table is None:
        raise ParameterError(f"engine_args = {value!r}; expected {TABLE_FORM}")
    taken = sorted(set(table) & set(OWNED_ENGINE_ARGS))
    if taken:
        raise ParameterError(f"engine_args: {taken[0]} is set by the backend: {OWNED_ENGINE_ARGS[taken[0]]}")
    return table


def checked_engine_args(table: dict[str, Any], names: set[str], version: str) -> dict[str, Any]:
    """``table`` when every name is one of the installed vLLM's ``EngineArgs`` fields (``names``;
    empty where vLLM has no dataclass to read them from, and then vLLM's own check decides)."""
    unknown = sorted(set(table) - names) if names else []
    if unknown:
        listed = ", ".join(unknown)
        raise ParameterError(f"engine_args: {listed}: not an argument of vLLM {version}'s EngineArgs")
    return table


def accepted_lora_ranks(vllm: Any) -> tuple[int, ...]:
    """The ``max_lora_rank`` values the installed vLLM accepts: its ``MaxLoRARanks`` (current
    versions), else the values its ``LoRAConfig`` takes (it checks them on construction, against
    a fixed tuple), else every value some version accepts."""
    try:
        from vllm.config.lora import MaxLoRARanks  # type: ignore[import-not-found]

        return tuple(sorted(typing.get_args(MaxLoRARanks)))
    except Exception:  # noqa: BLE001 - an older layout
        pass
    config = getattr(getattr(vllm, "config", None), "LoRAConfig", None)
    if config is not None:
        accepted = []
        for rank in ANY_VLLM_LORA_RANKS:
            try:
                config(max_lora_rank=rank, max_loras=1)
            except ValueError:
                continue
            except Exception:  # noqa: BLE001 - a constructor this probe does not fit
                return ANY_VLLM_LORA_RANKS
            accepted.append(rank)
        if accepted:
            return tuple(accepted)
    return ANY_VLLM_LORA_RANKS


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
