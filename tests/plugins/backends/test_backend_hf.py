"""The ``hf`` backend on a tiny Llama built offline: its log-probabilities are the model's,
batching and left padding change nothing, stop strings cut text and tokens alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from torch_helpers import one_torch_thread, varied_lm

from harness.errors import ParameterError
from harness.machinery import registry
from harness.plugins.backends.hf import HFBackend
from harness.strategies import GenerationRequest

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _one_torch_thread():  # type: ignore[no-untyped-def]
    yield from one_torch_thread()


QUESTIONS = [
    "What is the colour of item 3?",
    "Colour?",
    "What is the colour of the item that was left on the table yesterday evening?",
    "What is the capital of France?",
    "Name item 12.",
    "What colour is item 40, and why?",
]


@pytest.fixture(scope="module")
def varied_lm_path(tiny_lm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return varied_lm(tiny_lm_path, tmp_path_factory.mktemp("varied-lm"), seed=1)


def requests(stop: tuple[str, ...] = ()) -> list[GenerationRequest]:
    return [
        GenerationRequest(example_id=f"q{i}", prompt=f"Question: {q}\nAnswer:", stop=stop)
        for i, q in enumerate(QUESTIONS)
    ]


def by_id(generations) -> dict:  # type: ignore[no-untyped-def]
    return {g.example_id: g for g in generations}


def reference(backend: HFBackend, prompt: str, steps: int) -> tuple[list[str], list[float]]:
    """Greedy decoding by hand (a full forward pass per step, no cache, no padding), then
    one forward pass over prompt + answer: the chosen tokens and their log-softmax."""
    model, tokenizer = backend.model, backend.tokenizer
    prompt_ids = backend.encode(prompt)
    ids = list(prompt_ids)
    with torch.no_grad():
        for _ in range(steps):
            logits = model(torch.tensor([ids])).logits[0, -1]
            ids.append(int(logits.argmax()))
        logprobs = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), dim=-1)
    chosen = ids[len(prompt_ids) :]
    values = [float(logprobs[len(prompt_ids) + t - 1, token]) for t, token in enumerate(chosen)]
    return [tokenizer.decode([t]) for t in chosen], values


def test_logprobs_equal_a_separate_forward_pass(varied_lm_path: Path) -> None:
    backend = HFBackend(str(varied_lm_path), max_new_tokens=8, batch_size=4)
    generations = list(backend.generate(requests(), progress=False))
    assert sorted(g.example_id for g in generations) == sorted(r.example_id for r in requests())
    for g in generations:
        assert (g.backend, g.logprob_kind, g.finish_reason) == ("hf", "raw", "length")
        tokens, logprobs = reference(backend, g.prompt, steps=8)
        assert g.tokens == tokens
        assert g.logprobs == pytest.approx(logprobs, abs=1e-4)


def test_batched_equals_one_at_a_time(varied_lm_path: Path) -> None:
    """Prompts of very different lengths share a left-padded batch: padding must not leak."""
    batched = by_id(
        HFBackend(str(varied_lm_path), max_new_tokens=10, batch_size=6).generate(requests(), progress=False)
    )
    single = by_id(
        HFBackend(str(varied_lm_path), max_new_tokens=10, batch_size=1).generate(requests(), progress=False)
    )
    assert batched.keys() == single.keys()
    for key, one in single.items():
        assert batched[key].text == one.text
        assert batched[key].tokens == one.tokens
        assert batched[key].logprobs == pytest.approx(one.logprobs, abs=1e-4)


def test_results_come_batch_by_batch_longest_prompts_first(varied_lm_path: Path) -> None:
    backend = HFBackend(str(varied_lm_path), max_new_tokens=2, batch_size=2)
    lengths = {r.example_id: len(backend.encode(r.prompt)) for r in requests()}
    longest = sorted(lengths, key=lambda key: -lengths[key])[:2]
    stream = backend.generate(requests(), progress=False)
    first_two = [next(stream), next(stream)]
    assert {g.example_id for g in first_two} == set(longest)
    assert len(list(stream)) == 4


def test_a_stop_string_cuts_the_text_and_its_tokens(varied_lm_path: Path) -> None:
    free = by_id(HFBackend(str(varied_lm_path), max_new_tokens=10).generate(requests(), progress=False))
    # stop on the text of a later token of some answer, one that is plain text and new there
    target, at = next(
        (g, t)
        for g in free.values()
        for t in range(2, len(g.tokens))
        if g.tokens[t].isprintable()
        and "\ufffd" not in g.tokens[t]
        and g.tokens[t] not in "".join(g.tokens[:t])
    )
    stop = target.tokens[at]
    backend = HFBackend(str(varied_lm_path), max_new_tokens=10)
    request = GenerationRequest(example_id=target.example_id, prompt=target.prompt, stop=(stop,))
    (cut,) = backend.generate([request], progress=False)
    assert cut.finish_reason == "stop"
    assert cut.text == "".join(target.tokens[:at]) == target.text[: target.text.index(stop)]
    assert cut.tokens == target.tokens[:at]
    assert cut.logprobs == pytest.approx(target.logprobs[:at], abs=1e-6)


def test_processed_logprobs_under_greedy_equal_the_raw_ones(varied_lm_path: Path) -> None:
    raw = by_id(HFBackend(str(varied_lm_path), max_new_tokens=5).generate(requests(), progress=False))
    processed = by_id(
        HFBackend(str(varied_lm_path), max_new_tokens=5, logprob_kind="processed").generate(
            requests(), progress=False
        )
    )
    for key, g in processed.items():
        assert g.logprob_kind == "processed"
        assert g.tokens == raw[key].tokens
        assert g.logprobs == pytest.approx(raw[key].logprobs, abs=1e-4)


def test_sampling_reports_raw_logprobs_not_the_tempered_ones(varied_lm_path: Path) -> None:
    """With temperature 2, ``raw`` is the log-softmax of the model's own logits at each
    sampled token, ``processed`` that of the logits divided by 2."""
    prompt = requests()[0]
    results = {}
    for kind in ("raw", "processed"):
        backend = HFBackend(str(varied_lm_path), max_new_tokens=6, temperature=2.0, seed=7, logprob_kind=kind)
        captured: list = []

        def keep(module, args, out, captured=captured):  # type: ignore[no-untyped-def]
            captured.append(out.logits[0, -1].float())

        hook = backend.model.register_forward_hook(keep)
        (g,) = backend.generate([prompt], progress=False)
        hook.remove()
        results[kind] = (g, captured, backend.tokenizer)
    (raw, steps, tokenizer), (processed, _, _) = results["raw"], results["processed"]
    assert raw.tokens == processed.tokens  # same seed, same samples
    for t, token in enumerate(raw.tokens):
        candidates = [i for i in range(len(tokenizer)) if tokenizer.decode([i]) == token]
        full = torch.log_softmax(steps[t], dim=-1)
        tempered = torch.log_softmax(steps[t] / 2.0, dim=-1)
        assert any(abs(float(full[i]) - raw.logprobs[t]) < 1e-4 for i in candidates)
        assert any(abs(float(tempered[i]) - processed.logprobs[t]) < 1e-4 for i in candidates)
    assert raw.logprobs != pytest.approx(processed.logprobs, abs=1e-3)


@pytest.mark.slow  # importing peft alone takes seconds
def test_an_adapter_is_applied(varied_lm_path: Path, tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(varied_lm_path)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(base, config).save_pretrained(tmp_path / "adapter")

    plain = by_id(HFBackend(str(varied_lm_path), max_new_tokens=6).generate(requests(), progress=False))
    backend = HFBackend(str(varied_lm_path), adapter=str(tmp_path / "adapter"), max_new_tokens=6)
    adapted = by_id(backend.generate(requests(), progress=False))
    assert all(g.model == f"{varied_lm_path}+{tmp_path / 'adapter'}" for g in adapted.values())
    assert any(adapted[k].logprobs != pytest.approx(plain[k].logprobs, abs=1e-3) for k in plain)
    for g in adapted.values():  # and the log-probabilities are the adapted model's
        tokens, logprobs = reference(backend, g.prompt, steps=6)
        assert g.tokens == tokens
        assert g.logprobs == pytest.approx(logprobs, abs=1e-4)


def test_chat_template_auto_uses_the_tokenizers_template(varied_lm_path: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    assert (
        HFBackend(str(varied_lm_path)).encode("Hi")
        == HFBackend(str(varied_lm_path)).tokenizer("Hi")["input_ids"]
    )
    with pytest.raises(ParameterError, match="no chat template"):
        HFBackend(str(varied_lm_path), chat_template=True).load()

    folder = tmp_path / "chat-lm"
    tokenizer = AutoTokenizer.from_pretrained(varied_lm_path)
    tokenizer.chat_template = "{% for m in messages %}<s>User: {{ m['content'] }}\n{% endfor %}Assistant:"
    tokenizer.save_pretrained(folder)
    for name in ("config.json", "model.safetensors"):
        (folder / name).write_bytes((varied_lm_path / name).read_bytes())
    chat = HFBackend(str(folder))
    assert chat.tokenizer.decode(chat.encode("Hi")) == "<s>User: Hi\nAssistant:"
    assert (
        HFBackend(str(folder), chat_template=False).tokenizer.decode(
            HFBackend(str(folder), chat_template=False).encode("Hi")
        )
        == "Hi"
    )
    (g,) = chat.generate([GenerationRequest(example_id="a", prompt="Hi")], progress=False)
    assert g.prompt == "Hi"  # the prompt as given, not as rendered


def test_built_from_the_registry_with_its_defaults(varied_lm_path: Path) -> None:
    backend = registry.create("backend", "hf", model=str(varied_lm_path))
    assert backend.model_path == str(varied_lm_path)
    assert (backend.max_new_tokens, backend.batch_size, backend.temperature) == (64, 16, 0.0)


@pytest.mark.parametrize(
    "params",
    [
        {"max_new_tokens": 0},
        {"batch_size": -1},
        {"temperature": -0.5},
        {"dtype": "int3"},
        {"chat_template": "maybe"},
    ],
)
def test_bad_parameters_are_one_line_errors(params: dict, varied_lm_path: Path) -> None:
    with pytest.raises(ParameterError):
        HFBackend(str(varied_lm_path), **params)


def test_decoding_ignores_the_models_own_penalties_and_top_k(varied_lm_path: Path, tmp_path: Path) -> None:
    """A model whose generation_config sets a repetition penalty, no-repeat n-grams and top-k
    decodes as plain greedy all the same (the other backends pin the same)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(varied_lm_path)
    model.generation_config.update(do_sample=True, temperature=0.7, repetition_penalty=3.0,
                                   no_repeat_ngram_size=1, top_k=2, typical_p=0.5, min_new_tokens=6)
    model.save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(varied_lm_path).save_pretrained(tmp_path)
    for kind in ("raw", "processed"):
        plain = by_id(HFBackend(str(varied_lm_path), max_new_tokens=8, logprob_kind=kind).generate(
            requests(), progress=False))
        penalised = by_id(HFBackend(str(tmp_path), max_new_tokens=8, logprob_kind=kind).generate(
            requests(), progress=False))
        for key, g in plain.items():
            assert (penalised[key].text, penalised[key].tokens) == (g.text, g.tokens)
            assert penalised[key].logprobs == pytest.approx(g.logprobs, abs=1e-5)


def test_auto_device_is_this_processs_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.plugins.backends.hf import pick_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert pick_device("auto") == "cuda:1"
    monkeypatch.delenv("LOCAL_RANK")
    assert pick_device("auto") == "cuda:0"
    assert pick_device("cpu") == "cpu"
