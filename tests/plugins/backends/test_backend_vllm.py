"""The ``vllm`` backend's adapter logic, against a stand-in ``vllm`` module (vLLM is
CUDA-only and cannot be installed here), plus one real-vLLM test for GPU machines.

The stand-in has vLLM's shapes — ``LLM(model=..., **engine_args)``, ``SamplingParams``,
``LoRARequest(lora_name, lora_int_id, lora_path)``, ``RequestOutput.outputs[0]`` as a
``CompletionOutput(text, token_ids, logprobs=[{token_id: Logprob(logprob, rank,
decoded_token)}], finish_reason, stop_reason)`` — and its habits: ``text`` without the stop
string while ``token_ids`` keep the token that held it, and the end-of-sequence token;
``decoded_token`` a raw vocabulary piece ("Ġred") as V1 engines 0.7.3-0.9.2 give it; a whole
``generate`` call refused with a ``ValueError`` for one prompt longer than ``max_model_len``;
``n`` samples per request from a generator seeded by the request's ``seed``; ``logprobs=k``
as the top ``k`` (plus the chosen token) with their ranks; ``prompt_logprobs``.
LoRA: a ``max_lora_rank`` outside the version's set is a ``ValueError`` (``MaxLoRARanks`` in
current versions, ``LoRAConfig``'s tuple in 0.6), and so is an adapter of a higher rank.
Data parallelism as vLLM decides it, read in its sources: from 0.14 (0.14.0, 0.20.2, 0.21.0 and
0.31.0 read) ``LLM(data_parallel_size > 1)`` in one process is a ``ValueError``, and so is an engine
of a dense model under ``VLLM_DP_SIZE > 1`` (vllm/config/parallel.py: offline data parallelism
is for MoE models); before 0.14 such an engine exists only in a rank's own process (elsewhere it
would wait for its peers forever). Every ``generate`` call is logged, with its process, its
``CUDA_VISIBLE_DEVICES`` and its adapter, to the file ``$VLLM_STAND_IN_LOG`` (engines of a
data-parallel group are other processes).
Behind it a tiny transformers model decodes, so results can be compared with the ``hf``
backend's.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import types
from pathlib import Path
from typing import Any, Literal

import pytest
from torch_helpers import one_torch_thread, varied_lm

from harness.errors import HarnessError, ParameterError
from harness.plugins.backends.hf import HFBackend
from harness.plugins.backends.vllm_backend import VLLMBackend, built_logprob_kind, plain_output
from harness.strategies import GenerationRequest, ScoreRequest

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _one_torch_thread():  # type: ignore[no-untyped-def]
    yield from one_torch_thread()


PROMPTS = [
    "Question: What is the colour of item 3?\nAnswer:",
    "Question: Colour?\nAnswer:",
    "Q: Name item 12.\nA:",
]


# -- the stand-in vllm module ---------------------------------------------------------------


@dataclasses.dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclasses.dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    cumulative_logprob: float | None
    logprobs: list[dict[int, Logprob]] | None
    finish_reason: str | None = None
    stop_reason: int | str | None = None
    lora_request: Any = None


class RequestOutput:
    def __init__(
        self,
        request_id: str,
        prompt: str | None,
        prompt_token_ids: list[int],
        prompt_logprobs: Any,
        outputs: list[CompletionOutput],
        finished: bool,
        **kwargs: Any,
    ) -> None:
        self.request_id, self.prompt, self.prompt_token_ids = request_id, prompt, prompt_token_ids
        self.prompt_logprobs, self.outputs, self.finished = prompt_logprobs, outputs, finished


class SamplingParams:
    FIELDS = {
        "n",
        "temperature",
        "top_p",
        "top_k",
        "seed",
        "stop",
        "stop_token_ids",
        "max_tokens",
        "logprobs",
        "repetition_penalty",
        "presence_penalty",
        "frequency_penalty",
        "min_p",
        "prompt_logprobs",
    }

    def __init__(self, **kwargs: Any) -> None:
        unknown = set(kwargs) - self.FIELDS
        assert not unknown, f"SamplingParams got unknown arguments {unknown}"
        self.n = kwargs.get("n", 1)
        self.temperature = kwargs.get("temperature", 1.0)
        self.max_tokens = kwargs.get("max_tokens", 16)
        self.logprobs = kwargs.get("logprobs")
        self.prompt_logprobs = kwargs.get("prompt_logprobs")
        self.stop = kwargs.get("stop") or []
        self.seed = kwargs.get("seed")
        chosen = {"n", "temperature", "seed", "stop", "stop_token_ids", "max_tokens", "logprobs",
                  "prompt_logprobs"}
        self.pinned = {k: kwargs.get(k) for k in self.FIELDS - chosen}


@dataclasses.dataclass
class LoRARequest:
    lora_name: str
    lora_int_id: int
    lora_path: str = ""


class LLM:
    """Decoding with a transformers model, answering in vLLM's output shapes."""

    instances: list[LLM] = []

    def __init__(self, model: str, **engine_args: Any) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        vllm = sys.modules["vllm"]
        names = {f.name for f in dataclasses.fields(vllm.EngineArgs)}
        unknown = set(engine_args) - names
        assert not unknown, f"EngineArgs has no {unknown}"  # what the real LLM would reject
        dp = engine_args.get("data_parallel_size", 1)
        offline_dp = int(os.environ.get("VLLM_DP_SIZE", "1"))
        if version_tuple(vllm.__version__) >= (0, 14):
            if dp > 1:  # vllm/entrypoints/llm.py
                raise ValueError(f"LLM(data_parallel_size={dp}) is not supported for single-process usage "
                                 "and may hang. Please use the explicit multi-process data-parallel example")
            if offline_dp > 1:  # vllm/config/parallel.py; the stand-in's model is dense
                raise ValueError("Offline data parallel mode is not supported/useful for dense models.")
        elif dp > 1 and offline_dp != dp:
            raise RuntimeError("stand-in: a data-parallel engine outside a rank process waits for its peers")
        self.max_lora_rank = engine_args.get("max_lora_rank", 16)
        if engine_args.get("enable_lora") and self.max_lora_rank not in vllm.LORA_RANKS:
            raise ValueError(f"max_lora_rank ({self.max_lora_rank}) must be one of {vllm.LORA_RANKS}.")
        self.engine_args = engine_args
        self.llm_engine = vllm.ENGINE(engine_args.get("logprobs_mode"))
        self.model = AutoModelForCausalLM.from_pretrained(model)
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        self.calls: list[dict[str, Any]] = []
        LLM.instances.append(self)

    def get_tokenizer(self) -> Any:
        return self.tokenizer

    def generate(
        self,
        prompts: list[dict[str, Any]],
        sampling_params: Any = None,
        *,
        use_tqdm: bool = True,
        lora_request: Any = None,
    ) -> list[RequestOutput]:
        params = sampling_params if isinstance(sampling_params, list) else [sampling_params] * len(prompts)
        self.calls.append({"n": len(prompts), "lora_request": lora_request, "params": params})
        if os.environ.get("VLLM_STAND_IN_LOG"):
            with open(os.environ["VLLM_STAND_IN_LOG"], "a") as log:
                adapter = lora_request.lora_path if lora_request else None
                log.write(json.dumps({"devices": os.environ.get("CUDA_VISIBLE_DEVICES"), "pid": os.getpid(),
                                      "prompts": len(prompts), "adapter": adapter}) + "\n")
        if lora_request is not None:
            assert self.engine_args.get("enable_lora"), "a LoRARequest to an engine built without enable_lora"
            config = Path(lora_request.lora_path) / "adapter_config.json"
            rank = json.loads(config.read_text())["r"] if config.exists() else 0
            if rank > self.max_lora_rank:
                raise ValueError(f"LoRA rank {rank} is greater than max_lora_rank {self.max_lora_rank}.")
        limit = self.engine_args.get("max_model_len") or 2048
        for p in prompts:  # vLLM refuses the whole call for one prompt that is too long
            if len(p["prompt_token_ids"]) > limit:
                raise ValueError(f"The decoder prompt (length {len(p['prompt_token_ids'])}) is longer than "
                                 f"the maximum model length of {limit}. Make sure that `max_model_len` ...")
        return [
            self._one(str(i), p["prompt_token_ids"], sp)
            for i, (p, sp) in enumerate(zip(prompts, params, strict=True))
        ]

    def _log_softmax(self, ids: list[int]) -> Any:
        with torch.no_grad():
            return torch.log_softmax(self.model(torch.tensor([ids])).logits[0].float(), dim=-1)

    def _top(self, scores: Any, chosen: int, k: int) -> dict[int, Logprob]:
        """vLLM's logprobs of one position: the top ``k`` with their ranks, plus the chosen token."""
        order = torch.argsort(scores, descending=True).tolist()
        wanted = order[:k] + ([chosen] if chosen not in order[:k] else [])
        # a raw vocabulary piece ("Ġred"), as vLLM V1 0.7.3-0.9.2 reports decoded_token
        return {t: Logprob(float(scores[t]), order.index(t) + 1, self.tokenizer.convert_ids_to_tokens(t))
                for t in wanted}

    def _one(self, request_id: str, prompt_ids: list[int], sp: SamplingParams) -> RequestOutput:
        assert sp.logprobs is not None or sp.prompt_logprobs is not None
        assert sp.temperature == 0 or sp.seed is not None, "sampling without a seed is not reproducible"
        generator = torch.Generator().manual_seed(sp.seed) if sp.temperature > 0 else None
        prompt_logprobs = None
        if sp.prompt_logprobs is not None:
            scores = self._log_softmax(prompt_ids)
            prompt_logprobs = [None] + [self._top(scores[i - 1], prompt_ids[i], sp.prompt_logprobs)
                                        for i in range(1, len(prompt_ids))]
        completions = [self._completion(index, prompt_ids, sp, generator) for index in range(sp.n)]
        return RequestOutput(request_id, None, prompt_ids, prompt_logprobs, completions, True)

    def _completion(self, index: int, prompt_ids: list[int], sp: SamplingParams,
                    generator: Any) -> CompletionOutput:
        ids, token_ids, logprobs = list(prompt_ids), [], []
        finish, stop_reason, text = "length", None, ""
        for _ in range(sp.max_tokens):
            scores = self._log_softmax(ids)[-1]
            if generator is None:
                token = int(scores.argmax())
            else:
                token = int(torch.multinomial((scores / sp.temperature).softmax(-1), 1, generator=generator))
            ids.append(token)
            token_ids.append(token)
            logprobs.append(self._top(scores, token, sp.logprobs or 1))
            text = self.tokenizer.decode(token_ids, skip_special_tokens=True)
            if token == self.tokenizer.eos_token_id:
                finish = "stop"
                break
            hits = [(text.find(s), s) for s in sp.stop if s in text]
            if hits:
                at, stop_reason = min(hits)
                text, finish = text[:at], "stop"
                break
        cumulative = sum(d[t].logprob for d, t in zip(logprobs, token_ids, strict=True))
        return CompletionOutput(index, text, token_ids, cumulative, logprobs, finish, stop_reason)


class _Engine:
    """``LLM.llm_engine``: its class's module says V0 or V1; ``model_config.logprobs_mode``
    exists where the engine has the switch."""

    def __init__(self, logprobs_mode: str | None) -> None:
        self.model_config = types.SimpleNamespace()
        if logprobs_mode is not None:
            self.model_config.logprobs_mode = logprobs_mode


class V1Engine(_Engine):
    pass


class V0Engine(_Engine):
    pass


V1Engine.__module__ = "vllm.v1.engine.llm_engine"
V0Engine.__module__ = "vllm.engine.llm_engine"


#: the ``max_lora_rank`` values vLLM accepts: ``MaxLoRARanks`` of vllm/config/lora.py (0.11.1 on),
#: ``LoRAConfig.possible_max_ranks`` of vllm/config.py (0.6: up to 256; 0.7-0.10 added 320 and 512)
CURRENT_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
V06_LORA_RANKS = (8, 16, 32, 64, 128, 256)


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".")[:2])


def stand_in(*, logprobs_mode: bool = True, version: str = "0.11.0", engine: str = "v1",
             data_parallel: bool = True, extra_engine_args: tuple[tuple[str, type, Any], ...] = (),
             lora_ranks: tuple[int, ...] = CURRENT_LORA_RANKS) -> types.ModuleType:
    """A vllm module of ``version``; ``engine`` is the engine ``LLM`` builds (``v0``: what vLLM
    0.8-0.9 fall back to, whatever ``VLLM_USE_V1`` says). ``lora_ranks`` other than the current
    set come as an old ``vllm.config.LoRAConfig`` that checks them, without ``vllm.config.lora``."""
    fields = [
        ("model", str, ""),
        ("tensor_parallel_size", int, 1),
        ("dtype", str, "auto"),
        ("seed", int, 0),
        ("gpu_memory_utilization", float, 0.9),
        ("enable_lora", bool, False),
        ("max_lora_rank", int, 16),
        ("max_model_len", int, 0),
    ]
    if logprobs_mode:
        fields.append(("logprobs_mode", str, "raw_logprobs"))
    if data_parallel:
        fields.append(("data_parallel_size", int, 1))
    fields += list(extra_engine_args)
    vllm = types.ModuleType("vllm")
    vllm.ENGINE = V1Engine if engine == "v1" else V0Engine
    vllm.__version__ = version
    vllm.LLM, vllm.SamplingParams, vllm.RequestOutput = LLM, SamplingParams, RequestOutput
    vllm.EngineArgs = dataclasses.make_dataclass("EngineArgs", fields)
    lora = types.ModuleType("vllm.lora")
    request = types.ModuleType("vllm.lora.request")
    request.LoRARequest = LoRARequest
    vllm.lora, lora.request = lora, request
    vllm.LORA_RANKS = lora_ranks
    config = types.ModuleType("vllm.config")
    if lora_ranks == CURRENT_LORA_RANKS:
        config.lora = types.ModuleType("vllm.config.lora")
        config.lora.MaxLoRARanks = Literal[1, 8, 16, 32, 64, 128, 256, 320, 512]
    else:
        @dataclasses.dataclass
        class LoRAConfig:
            max_lora_rank: int
            max_loras: int

            def __post_init__(self) -> None:
                if self.max_lora_rank not in lora_ranks:
                    raise ValueError(f"max_lora_rank ({self.max_lora_rank}) must be one of {lora_ranks}.")

        config.LoRAConfig, config.lora = LoRAConfig, None
    vllm.config = config
    return vllm


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def install(**kwargs: Any) -> types.ModuleType:
        module = stand_in(**kwargs)
        monkeypatch.setitem(sys.modules, "vllm", module)
        monkeypatch.setitem(sys.modules, "vllm.lora", module.lora)
        monkeypatch.setitem(sys.modules, "vllm.lora.request", module.lora.request)
        monkeypatch.setitem(sys.modules, "vllm.config", module.config)
        monkeypatch.setitem(sys.modules, "vllm.config.lora", module.config.lora)  # None: not importable
        LLM.instances.clear()
        return module

    return install


@pytest.fixture(scope="module")
def varied_lm_path(tiny_lm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return varied_lm(tiny_lm_path, tmp_path_factory.mktemp("varied-lm-vllm"), seed=2)


def requests(stop: tuple[str, ...] = ()) -> list[GenerationRequest]:
    return [GenerationRequest(example_id=f"p{i}", prompt=p, stop=stop) for i, p in enumerate(PROMPTS)]


# -- tests ------------------------------------------------------------------------------------


def test_generations_match_the_hf_backend(fake_vllm, varied_lm_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake_vllm()
    got = list(VLLMBackend(str(varied_lm_path), max_new_tokens=8).generate(requests(), progress=False))
    want = {
        g.example_id: g
        for g in HFBackend(str(varied_lm_path), max_new_tokens=8).generate(requests(), progress=False)
    }
    assert [g.example_id for g in got] == ["p0", "p1", "p2"]
    for g in got:
        assert (g.backend, g.logprob_kind, g.finish_reason) == ("vllm", "raw", "length")
        assert (g.text, g.tokens) == (want[g.example_id].text, want[g.example_id].tokens)
        assert g.logprobs == pytest.approx(want[g.example_id].logprobs, abs=1e-4)


def test_engine_is_asked_for_raw_logprobs_and_greedy_sampling(fake_vllm, varied_lm_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake_vllm()
    backend = VLLMBackend(str(varied_lm_path), tensor_parallel_size=1, max_new_tokens=5)
    list(backend.generate(requests(stop=("\n",)), progress=False))
    (llm,) = LLM.instances
    assert llm.engine_args["logprobs_mode"] == "raw_logprobs"
    assert llm.engine_args["enable_lora"] is False
    (call,) = llm.calls
    assert call["lora_request"] is None
    assert {(p.temperature, p.max_tokens, tuple(p.stop)) for p in call["params"]} == {(0.0, 5, ("\n",))}


def test_an_older_engine_records_the_logprob_kind_it_reports(fake_vllm, varied_lm_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake_vllm(logprobs_mode=False, version="0.6.3", engine="v0")  # the V0 engine: post-processing logprobs
    backend = VLLMBackend(str(varied_lm_path), max_new_tokens=3)
    (g, *_) = backend.generate(requests(), progress=False)
    assert "logprobs_mode" not in LLM.instances[0].engine_args
    assert g.logprob_kind == "processed"
    fake_vllm(logprobs_mode=False, version="0.9.2")  # V1 without the switch: raw
    (g, *_) = VLLMBackend(str(varied_lm_path), max_new_tokens=3).generate(requests(), progress=False)
    assert g.logprob_kind == "raw"


def test_the_logprob_kind_comes_from_the_engine_built(fake_vllm, varied_lm_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake_vllm(logprobs_mode=False, version="0.9.2", engine="v0")  # V1 asked for, V0 built (a fallback)
    backend = VLLMBackend(str(varied_lm_path), max_new_tokens=2)
    assert {g.logprob_kind for g in backend.generate(requests(), progress=False)} == {"processed"}
    fake_vllm(version="0.11.0")
    backend = VLLMBackend(str(varied_lm_path), max_new_tokens=2)
    list(backend.generate(requests(), progress=False))
    assert backend.logprob_kind == "raw"
    LLM.instances[0].llm_engine.model_config.logprobs_mode = "processed_logprobs"
    assert built_logprob_kind(LLM.instances[0], sys.modules["vllm"]) == "processed"


def test_max_lora_rank_comes_from_the_adapter_and_is_checked(  # type: ignore[no-untyped-def]
        fake_vllm, varied_lm_path: Path, tmp_path: Path) -> None:
    fake_vllm()
    (tmp_path / "adapter_config.json").write_text(json.dumps({"r": 24}))
    backend = VLLMBackend(str(varied_lm_path), adapter=str(tmp_path), max_new_tokens=2)
    list(backend.generate(requests()[:1], progress=False))
    assert LLM.instances[0].engine_args["max_lora_rank"] == 32  # 24 rounded up to a rank vLLM takes
    with pytest.raises(ParameterError, match=r"max_lora_rank = 16 is below the adapter's rank r = 24"):
        VLLMBackend(str(varied_lm_path), adapter=str(tmp_path), max_lora_rank=16)
    with pytest.raises(ParameterError, match=r"^max_lora_rank = 48; vLLM accepts 1, 8, 16, 32, 64, 128, 2"):
        VLLMBackend(str(varied_lm_path), adapter=str(tmp_path), max_lora_rank=48)  # no vLLM takes it


def test_max_lora_rank_is_what_the_installed_vllm_accepts(  # type: ignore[no-untyped-def]
        fake_vllm, varied_lm_path: Path, tmp_path: Path) -> None:
    """vLLM 0.6 takes 8-256 (LoRAConfig's tuple), current versions 1-512 (MaxLoRARanks): the
    rank is rounded up within the installed set, a value outside it is one line before the
    engine starts (the stand-in's engine would refuse it too)."""
    (tmp_path / "adapter_config.json").write_text(json.dumps({"r": 300}))
    fake_vllm(version="0.6.3", lora_ranks=V06_LORA_RANKS, data_parallel=False, logprobs_mode=False)
    with pytest.raises(ParameterError, match=r"^the adapter's rank r = 300 is above the largest vLLM 0\.6\.3 "
                                             r"accepts, 256$"):
        VLLMBackend(str(varied_lm_path), adapter=str(tmp_path)).load()
    (tmp_path / "adapter_config.json").write_text(json.dumps({"r": 4}))
    with pytest.raises(ParameterError, match=r"^max_lora_rank = 320; vLLM 0\.6\.3 accepts 8, 16, 32, 64, 1"):
        VLLMBackend(str(varied_lm_path), adapter=str(tmp_path), max_lora_rank=320).load()
    assert LLM.instances == []
    backend = VLLMBackend(str(varied_lm_path), adapter=str(tmp_path))
    backend.load()
    assert LLM.instances[0].engine_args["max_lora_rank"] == 8  # 4 rounded up: 0.6 has no rank 1 or 4
    fake_vllm()
    (tmp_path / "adapter_config.json").write_text(json.dumps({"r": 1}))
    backend = VLLMBackend(str(varied_lm_path), adapter=str(tmp_path))
    backend.load()
    assert LLM.instances[0].engine_args["max_lora_rank"] == 1


@pytest.mark.parametrize("version", ["0.11.0", "0.31.0"])
def test_every_engine_of_a_data_parallel_group_serves_its_share_with_the_adapter(  # type: ignore[no-untyped-def]
        fake_vllm, varied_lm_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        version: str) -> None:
    """Data parallelism is independent engines, one process per group of GPUs: each must get its
    share of every batch *and* the trained adapter, or part of the answers come from the base
    model; vLLM's own offline data-parallel mode, which 0.14 on refuse for dense models, is not
    asked for (no ``data_parallel_size``, no ``VLLM_DP_*`` in an engine's process)."""
    fake_vllm(version=version)
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("VLLM_STAND_IN_LOG", str(log))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6,7")
    monkeypatch.setenv("VLLM_DP_SIZE", "2")  # left by a launcher: not for these engines
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 8}))
    batch = requests() + [GenerationRequest(example_id="p3", prompt="Question: Shape?\nAnswer:")]
    backend = VLLMBackend(str(varied_lm_path), adapter=str(adapter), max_new_tokens=3,
                          tensor_parallel_size=2, data_parallel_size=2)
    try:
        got = {g.example_id: g for g in backend.generate(batch, progress=False)}
    finally:
        backend.close()
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert LLM.instances == []  # no engine in this process: one per group of GPUs
    assert sorted((c["devices"], c["prompts"], c["adapter"]) for c in calls) == [("4,5", 2, str(adapter)),
                                                                                ("6,7", 2, str(adapter))]
    assert len({c["pid"] for c in calls}) == 2 and os.getpid() not in {c["pid"] for c in calls}
    monkeypatch.delenv("VLLM_DP_SIZE")
    one = {g.example_id: g for g in VLLMBackend(str(varied_lm_path), adapter=str(adapter), max_new_tokens=3)
           .generate(batch, progress=False)}
    assert {k: (g.text, g.tokens, g.model) for k, g in got.items()} == {
        k: (g.text, g.tokens, g.model) for k, g in one.items()}
    assert all(g.logprobs == pytest.approx(one[k].logprobs, abs=1e-5) for k, g in got.items())


def test_vllm_s_own_data_parallel_mode_is_refused_for_a_dense_model_as_the_stand_in_says(  # type: ignore[no-untyped-def]
        fake_vllm, varied_lm_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the previous way (each rank an engine with ``data_parallel_size``) meets in vLLM >= 0.14."""
    vllm = fake_vllm(version="0.31.0")
    with pytest.raises(ValueError, match="not supported for single-process usage"):
        vllm.LLM(str(varied_lm_path), data_parallel_size=2)
    monkeypatch.setenv("VLLM_DP_SIZE", "2")
    with pytest.raises(ValueError, match="Offline data parallel mode is not supported/useful for dense"):
        vllm.LLM(str(varied_lm_path))


def test_an_engine_given_no_share_of_a_batch_is_not_called(  # type: ignore[no-untyped-def]
        fake_vllm, varied_lm_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_vllm()
    monkeypatch.setenv("VLLM_STAND_IN_LOG", str(tmp_path / "calls.jsonl"))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    backend = VLLMBackend(str(varied_lm_path), max_new_tokens=2, data_parallel_size=3)
    try:
        got = list(backend.generate(requests()[:2], progress=False))
    finally:
        backend.close()
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert sorted(c["devices"] for c in calls) == ["1", "2"]  # engines 1 and 2 (of 0, 1, 2) had a prompt each
    assert [g.example_id for g in got] == ["p0", "p1"]


def test_data_parallelism_needs_no_data_parallel_support_in_vllm(fake_vllm, varied_lm_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake_vllm(data_parallel=False, version="0.7.3")
    backend = VLLMBackend(str(varied_lm_path), max_new_tokens=2, data_parallel_size=2)
    try:
        assert [g.example_id for g in backend.generate(requests()[:2], progress=False)] == ["p0", "p1"]
    finally:
        backend.close()


@pytest.mark.parametrize("engine_args", [{"enforce_eager": True}, '{"enforce_eager": true}'])
def test_engine_args_reach_the_engine(fake_vllm, varied_lm_path: Path, engine_args: Any) -> None:  # type: ignore[no-untyped-def]
    fake_vllm(extra_engine_args=(("enforce_eager", bool, False),))
    backend = VLLMBackend(str(varied_lm_path), max_new_tokens=2, engine_args=engine_args)
    backend.load()
    assert LLM.instances[0].engine_args["enforce_eager"] is True


@pytest.mark.parametrize("engine_args, message", [
    ({"enforce_eagerly": True}, "engine_args: enforce_eagerly: not an argument of vLLM 0.31.0's EngineArgs"),
    ({"data_parallel_size": 2}, "engine_args: data_parallel_size is set by the backend: data_parallel_size"),
    ({"dtype": "half"}, "engine_args: dtype is set by the backend: dtype"),
    ("[1]", "engine_args = '[1]'; expected a table of fields"),
])
def test_a_bad_engine_arg_is_one_line_before_the_engine_starts(  # type: ignore[no-untyped-def]
        fake_vllm, varied_lm_path: Path, engine_args: Any, message: str) -> None:
    fake_vllm(version="0.31.0")
    with pytest.raises(ParameterError) as error:
        VLLMBackend(str(varied_lm_path), engine_args=engine_args).load()
    assert str(error.value) == message or str(error.value).startswith(message)
    assert LLM.instances == []


def test_a_stop_string_is_cut_from_text_and_tokens(fake_vllm, varied_lm_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake_vllm()
    free = list(VLLMBackend(str(varied_lm_path), max_new_tokens=10).generate(requests(), progress=False))
    target, at = next(
        (g, t)
        for g in free
        for t in range(2, len(g.tokens))
        if g.tokens[t].isprintable()
        and "\ufffd" not in g.tokens[t]
        and g.tokens[t] not in "".join(g.tokens[:t])
    )
    request = GenerationRequest(example_id="x", prompt=target.prompt, stop=(target.tokens[at],))
    (cut,) = VLLMBackend(str(varied_lm_path), max_new_tokens=10).generate([request], progress=False)
    assert cut.finish_reason == "stop"
    assert cut.tokens == target.tokens[:at]
    assert cut.text == "".join(target.tokens[:at])
    assert cut.logprobs == pytest.approx(target.logprobs[:at])


def test_the_end_of_sequence_token_is_dropped(fake_vllm, varied_lm_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake_vllm()
    backend = VLLMBackend(str(varied_lm_path))
    backend.load()
    tokenizer = backend._tokenizer
    ids = tokenizer(" red", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    logprobs = [{t: Logprob(-0.5 * (i + 1), 1, tokenizer.decode([t]))} for i, t in enumerate(ids)]
    completion = CompletionOutput(0, " red", ids, None, logprobs, "stop", None)
    g = backend._to_generation(
        GenerationRequest(example_id="e", prompt="Q"),
        plain_output(RequestOutput("0", None, [], None, [completion], True)),
        tokenizer,
    )
    assert (g.text, g.finish_reason) == (" red", "eos")
    assert g.tokens == [tokenizer.decode([t]) for t in ids[:-1]]
    assert g.logprobs == [-0.5 * (i + 1) for i in range(len(ids) - 1)]


def test_an_adapter_goes_through_a_lora_request(fake_vllm, varied_lm_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake_vllm()
    backend = VLLMBackend(str(varied_lm_path), adapter=str(tmp_path), max_new_tokens=2, max_lora_rank=32)
    generations = list(backend.generate(requests(), progress=False))
    (llm,) = LLM.instances
    assert (llm.engine_args["enable_lora"], llm.engine_args["max_lora_rank"]) == (True, 32)
    assert llm.calls[0]["lora_request"] == LoRARequest("adapter", 1, str(tmp_path))
    assert {g.model for g in generations} == {f"{varied_lm_path}+{tmp_path}"}


def test_requests_go_in_chunks_and_results_come_after_each(fake_vllm, varied_lm_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake_vllm()
    stream = VLLMBackend(str(varied_lm_path), max_new_tokens=2, batch_size=2).generate(
        requests(), progress=False
    )
    first = next(stream)
    assert first.example_id == "p0" and [c["n"] for c in LLM.instances[0].calls] == [2]
    assert [g.example_id for g in stream] == ["p1", "p2"]
    assert [c["n"] for c in LLM.instances[0].calls] == [2, 1]


def test_one_over_long_prompt_fails_only_its_example(fake_vllm, varied_lm_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake_vllm()
    long = GenerationRequest(example_id="long", prompt="Question: colour? " * 40 + "\nAnswer:")
    batch = [*requests()[:2], long, requests()[2]]
    got = {g.example_id: g for g in VLLMBackend(str(varied_lm_path), max_new_tokens=3, max_model_len=64)
           .generate(batch, progress=False)}
    assert set(got) == {"p0", "p1", "long", "p2"}
    assert got["long"].error.startswith("vLLM refused the request: The decoder prompt (length ")
    assert got["long"].text == "" and got["long"].tokens == []
    assert all(got[k].error is None and got[k].tokens for k in ("p0", "p1", "p2"))
    assert [c["n"] for c in LLM.instances[0].calls] == [4, 1, 1, 1, 1]  # the chunk, then one at a time


def test_decoding_is_pinned_to_plain_greedy(fake_vllm, varied_lm_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake_vllm()
    list(VLLMBackend(str(varied_lm_path), max_new_tokens=2).generate(requests(), progress=False))
    pinned = [p.pinned for p in LLM.instances[0].calls[0]["params"]]
    assert pinned == [{"repetition_penalty": 1.0, "presence_penalty": 0.0, "frequency_penalty": 0.0,
                       "top_p": 1.0, "top_k": -1, "min_p": 0.0}] * len(PROMPTS)


def test_without_vllm_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, varied_lm_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # what `import vllm` meets where it is not installed
    with pytest.raises(HarnessError, match=r'pip install "calibration-harness\[vllm\]"') as caught:
        VLLMBackend(str(varied_lm_path))  # at once, before any work
    assert "\n" not in str(caught.value)


@pytest.mark.gpu
def test_real_vllm_matches_the_hf_backend(varied_lm_path: Path) -> None:
    pytest.importorskip("vllm")
    if not torch.cuda.is_available():
        pytest.skip("vLLM needs a CUDA GPU")
    got = list(
        VLLMBackend(
            str(varied_lm_path), max_new_tokens=8, dtype="float32", gpu_memory_utilization=0.3
        ).generate(requests(), progress=False)
    )
    want = {
        g.example_id: g
        for g in HFBackend(str(varied_lm_path), max_new_tokens=8, dtype="float32", device="cpu").generate(
            requests(), progress=False
        )
    }
    for g in got:
        assert g.logprob_kind == "raw"
        assert g.tokens == want[g.example_id].tokens
        assert g.logprobs == pytest.approx(want[g.example_id].logprobs, abs=1e-3)


# -- beyond one greedy answer: samples, scores, entropies -------------------------------------


def sampled(backend: VLLMBackend, seed: int, n: int = 4) -> dict[str, list[str]]:
    batch = [GenerationRequest(example_id=f"p{i}", prompt=p, stop=("\n",), n=n, temperature=1.0, seed=seed)
             for i, p in enumerate(PROMPTS)]
    return {g.example_id: g.samples for g in backend.generate(batch, progress=False)}


def test_n_samples_are_one_sampling_call_seeded_per_request(fake_vllm, varied_lm_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake_vllm()
    backend = VLLMBackend(str(varied_lm_path), max_new_tokens=6)
    first, again, other = sampled(backend, 7), sampled(backend, 7), sampled(backend, 8)
    call = LLM.instances[0].calls[0]
    assert call["n"] == len(PROMPTS)  # one call for every prompt and sample
    assert {(p.n, p.temperature, p.seed) for p in call["params"]} == {(4, 1.0, 7)}
    assert all(len(texts) == 4 and all("\n" not in t for t in texts) for texts in first.values())
    assert first == again and first != other
    assert any(len(set(texts)) > 1 for texts in first.values())
    # vLLM seeds each request on its own: a prompt sampled alone draws the same samples
    (alone,) = backend.generate([GenerationRequest(example_id="p1", prompt=PROMPTS[1], stop=("\n",), n=4,
                                                   temperature=1.0, seed=7)], progress=False)
    assert alone.samples == first["p1"]
    assert alone.text == alone.samples[0] and "".join(alone.tokens).startswith(alone.text)


def test_scores_equal_the_hf_backends(fake_vllm, varied_lm_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake_vllm()
    asked = [ScoreRequest(example_id=f"s{i}", prompt=p, continuations=(" A", " B", " red item", ""))
             for i, p in enumerate(PROMPTS)]
    got = {s.example_id: s for s in VLLMBackend(str(varied_lm_path)).score(asked, progress=False)}
    want = {s.example_id: s for s in HFBackend(str(varied_lm_path)).score(asked, progress=False)}
    assert sorted(got) == ["s0", "s1", "s2"]
    for key, scores in got.items():
        assert scores.error is None and scores.continuations == [" A", " B", " red item", ""]
        assert scores.logprobs[3] is None  # an empty continuation has no probability to take
        assert scores.logprobs[:3] == pytest.approx(want[key].logprobs[:3], abs=1e-4)
        assert all(v < 0 for v in scores.logprobs[:3])
    (params,) = {(p.max_tokens, p.prompt_logprobs) for p in LLM.instances[0].calls[0]["params"]}
    assert params == (1, 1)


def test_an_over_long_score_prompt_is_that_requests_error(fake_vllm, varied_lm_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake_vllm()
    asked = [ScoreRequest(example_id="ok", prompt=PROMPTS[0], continuations=(" A",)),
             ScoreRequest(example_id="long", prompt="colour? " * 60, continuations=(" A",))]
    backend = VLLMBackend(str(varied_lm_path), max_model_len=64)
    got = {s.example_id: s for s in backend.score(asked, progress=False)}
    assert got["ok"].error is None and got["ok"].logprobs[0] is not None
    assert got["long"].logprobs == [None]
    assert got["long"].error.startswith("vLLM refused the request: The decoder prompt")


def test_entropies_from_the_top_logprobs(fake_vllm, varied_lm_path: Path) -> None:  # type: ignore[no-untyped-def]
    """With the whole vocabulary (300 tokens) among the top log-probabilities the renormalised
    entropy is the exact one (as the hf backend computes it); with two, at most log 2."""
    fake_vllm()
    assert "entropies" not in VLLMBackend(str(varied_lm_path)).capabilities
    (plain,) = VLLMBackend(str(varied_lm_path), max_new_tokens=5).generate(requests()[:1], progress=False)
    assert plain.entropies == []
    full = VLLMBackend(str(varied_lm_path), max_new_tokens=5, top_logprobs=300)
    assert full.capabilities == {"logprobs", "entropies", "samples", "scores"}
    (g,) = full.generate(requests()[:1], progress=False)
    (want,) = HFBackend(str(varied_lm_path), max_new_tokens=5).generate(requests()[:1], progress=False)
    assert g.tokens == want.tokens
    assert g.entropies == pytest.approx(want.entropies, abs=1e-4)
    (two,) = VLLMBackend(str(varied_lm_path), max_new_tokens=5, top_logprobs=2).generate(requests()[:1],
                                                                                          progress=False)
    assert len(two.entropies) == len(two.tokens) and all(0 <= e <= math.log(2) + 1e-9 for e in two.entropies)


@pytest.mark.parametrize(("n", "temperature", "message"), [
    (0, 1.0, r"^a request's n \(samples\) must be at least 1, not 0$"),
    (3, 0.0, r"^3 samples need a temperature above 0, not 0\.0$"),
    (3, -1.0, r"^temperature must be at least 0, not -1\.0$"),
])
def test_bad_sampling_requests_are_one_line_before_any_work(  # type: ignore[no-untyped-def]
        fake_vllm, varied_lm_path: Path, n: int, temperature: float, message: str) -> None:
    fake_vllm()
    bad = GenerationRequest(example_id="x", prompt=PROMPTS[0], n=n, temperature=temperature)
    with pytest.raises(ParameterError, match=message):
        list(VLLMBackend(str(varied_lm_path)).generate([bad], progress=False))
    assert LLM.instances == []  # refused before the engine started
