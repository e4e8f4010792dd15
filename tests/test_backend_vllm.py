"""The ``vllm`` backend's adapter logic, against a stand-in ``vllm`` module (vLLM is
CUDA-only and cannot be installed here), plus one real-vLLM test for GPU machines.

The stand-in has vLLM's shapes — ``LLM(model=..., **engine_args)``, ``SamplingParams``,
``LoRARequest(lora_name, lora_int_id, lora_path)``, ``RequestOutput.outputs[0]`` as a
``CompletionOutput(text, token_ids, logprobs=[{token_id: Logprob(logprob, rank,
decoded_token)}], finish_reason, stop_reason)`` — and its habits: ``text`` without the stop
string while ``token_ids`` keep the token that held it, and the end-of-sequence token;
``decoded_token`` a raw vocabulary piece ("Ġred") as V1 engines 0.7.3-0.9.2 give it; a whole
``generate`` call refused with a ``ValueError`` for one prompt longer than ``max_model_len``.
Behind it a tiny transformers model decodes greedily, so results can be compared with the
``hf`` backend's.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from torch_helpers import one_torch_thread, varied_lm

from harness.errors import HarnessError, ParameterError
from harness.plugins.backends.hf import HFBackend
from harness.plugins.backends.vllm_backend import VLLMBackend, built_logprob_kind
from harness.strategies import GenerationRequest

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
    }

    def __init__(self, **kwargs: Any) -> None:
        unknown = set(kwargs) - self.FIELDS
        assert not unknown, f"SamplingParams got unknown arguments {unknown}"
        self.temperature = kwargs.get("temperature", 1.0)
        self.max_tokens = kwargs.get("max_tokens", 16)
        self.logprobs = kwargs.get("logprobs")
        self.stop = kwargs.get("stop") or []
        self.seed = kwargs.get("seed")
        self.pinned = {k: kwargs.get(k) for k in self.FIELDS - {"n", "temperature", "seed", "stop",
                                                                "stop_token_ids", "max_tokens", "logprobs"}}


@dataclasses.dataclass
class LoRARequest:
    lora_name: str
    lora_int_id: int
    lora_path: str = ""


class LLM:
    """Greedy decoding with a transformers model, answering in vLLM's output shapes."""

    instances: list[LLM] = []

    def __init__(self, model: str, **engine_args: Any) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        names = {f.name for f in dataclasses.fields(sys.modules["vllm"].EngineArgs)}
        unknown = set(engine_args) - names
        assert not unknown, f"EngineArgs has no {unknown}"  # what the real LLM would reject
        self.engine_args = engine_args
        self.llm_engine = sys.modules["vllm"].ENGINE(engine_args.get("logprobs_mode"))
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
        limit = self.engine_args.get("max_model_len") or 2048
        for p in prompts:  # vLLM refuses the whole call for one prompt that is too long
            if len(p["prompt_token_ids"]) > limit:
                raise ValueError(f"The decoder prompt (length {len(p['prompt_token_ids'])}) is longer than "
                                 f"the maximum model length of {limit}. Make sure that `max_model_len` ...")
        return [
            self._one(str(i), p["prompt_token_ids"], sp)
            for i, (p, sp) in enumerate(zip(prompts, params, strict=True))
        ]

    def _one(self, request_id: str, prompt_ids: list[int], sp: SamplingParams) -> RequestOutput:
        assert sp.temperature == 0 and sp.logprobs is not None
        ids, token_ids, logprobs = list(prompt_ids), [], []
        finish, stop_reason, text = "length", None, ""
        for _ in range(sp.max_tokens):
            with torch.no_grad():
                scores = torch.log_softmax(self.model(torch.tensor([ids])).logits[0, -1].float(), dim=-1)
            token = int(scores.argmax())
            ids.append(token)
            token_ids.append(token)
            # a raw vocabulary piece ("Ġred"), as vLLM V1 0.7.3-0.9.2 reports decoded_token
            piece = self.tokenizer.convert_ids_to_tokens(token)
            logprobs.append({token: Logprob(float(scores[token]), 1, piece)})
            text = self.tokenizer.decode(token_ids, skip_special_tokens=True)
            if token == self.tokenizer.eos_token_id:
                finish = "stop"
                break
            hits = [(text.find(s), s) for s in sp.stop if s in text]
            if hits:
                at, stop_reason = min(hits)
                text, finish = text[:at], "stop"
                break
        completion = CompletionOutput(
            0,
            text,
            token_ids,
            sum(next(iter(d.values())).logprob for d in logprobs),
            logprobs,
            finish,
            stop_reason,
        )
        return RequestOutput(request_id, None, prompt_ids, None, [completion], True)


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


def stand_in(*, logprobs_mode: bool = True, version: str = "0.11.0", engine: str = "v1",
             data_parallel: bool = True) -> types.ModuleType:
    """A vllm module of ``version``; ``engine`` is the engine ``LLM`` builds (``v0``: what vLLM
    0.8-0.9 fall back to, whatever ``VLLM_USE_V1`` says)."""
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
    vllm = types.ModuleType("vllm")
    vllm.ENGINE = V1Engine if engine == "v1" else V0Engine
    vllm.__version__ = version
    vllm.LLM, vllm.SamplingParams, vllm.RequestOutput = LLM, SamplingParams, RequestOutput
    vllm.EngineArgs = dataclasses.make_dataclass("EngineArgs", fields)
    lora = types.ModuleType("vllm.lora")
    request = types.ModuleType("vllm.lora.request")
    request.LoRARequest = LoRARequest
    vllm.lora, lora.request = lora, request
    return vllm


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def install(**kwargs: Any) -> types.ModuleType:
        module = stand_in(**kwargs)
        monkeypatch.setitem(sys.modules, "vllm", module)
        monkeypatch.setitem(sys.modules, "vllm.lora", module.lora)
        monkeypatch.setitem(sys.modules, "vllm.lora.request", module.lora.request)
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
    with pytest.raises(ParameterError, match=r"max_lora_rank = 16 is below the rank r = 24"):
        VLLMBackend(str(varied_lm_path), adapter=str(tmp_path), max_lora_rank=16)
    with pytest.raises(ParameterError, match=r"max_lora_rank = 48; vLLM accepts 8, 16, 32"):
        VLLMBackend(str(varied_lm_path), adapter=str(tmp_path), max_lora_rank=48)


def test_data_parallel_size_reaches_the_engine_or_is_one_line(fake_vllm, varied_lm_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake_vllm()
    backend = VLLMBackend(str(varied_lm_path), max_new_tokens=2, tensor_parallel_size=2, data_parallel_size=2)
    list(backend.generate(requests()[:1], progress=False))
    args = LLM.instances[0].engine_args
    assert (args["tensor_parallel_size"], args["data_parallel_size"]) == (2, 2)
    fake_vllm(data_parallel=False, version="0.7.3")
    with pytest.raises(ParameterError, match=r"^data_parallel_size = 2: the installed vLLM 0.7.3 has no"):
        list(VLLMBackend(str(varied_lm_path), data_parallel_size=2).generate(requests()[:1], progress=False))


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
    tokenizer = backend._llm.get_tokenizer()
    ids = tokenizer(" red", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    logprobs = [{t: Logprob(-0.5 * (i + 1), 1, tokenizer.decode([t]))} for i, t in enumerate(ids)]
    completion = CompletionOutput(0, " red", ids, None, logprobs, "stop", None)
    g = backend._to_generation(
        GenerationRequest(example_id="e", prompt="Q"),
        RequestOutput("0", None, [], None, [completion], True),
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
