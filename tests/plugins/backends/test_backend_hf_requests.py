"""The ``hf`` backend beyond one greedy answer: ``n`` samples in one batched call (seeded),
the entropy of every step, and ``score`` — the log-probability of given continuations."""

from __future__ import annotations

from pathlib import Path

import pytest
from torch_helpers import one_torch_thread, varied_lm

from harness.errors import ParameterError
from harness.plugins.backends.hf import HFBackend
from harness.strategies import GenerationRequest, ScoreRequest

torch = pytest.importorskip("torch")

PROMPTS = [f"Question: What is the colour of item {i}?\nAnswer:" for i in range(5)]


@pytest.fixture(autouse=True)
def _one_torch_thread():  # type: ignore[no-untyped-def]
    yield from one_torch_thread()


@pytest.fixture(scope="module")
def lm_path(tiny_lm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return varied_lm(tiny_lm_path, tmp_path_factory.mktemp("varied-lm"), seed=1)


def sample(backend: HFBackend, seed: int, n: int = 4, prompts: list[str] = PROMPTS) -> dict[str, list[str]]:
    requests = [GenerationRequest(example_id=f"q{i}", prompt=p, stop=("\n",), n=n, temperature=1.0, seed=seed)
                for i, p in enumerate(prompts)]
    return {g.example_id: g.samples for g in backend.generate(requests, progress=False)}


def test_n_samples_come_back_cut_at_the_stop_string_and_reproducible_with_a_seed(lm_path: Path) -> None:
    backend = HFBackend(str(lm_path), max_new_tokens=6, batch_size=8)
    first, again, other = sample(backend, 7), sample(backend, 7), sample(backend, 8)
    assert sorted(first) == [f"q{i}" for i in range(5)]
    assert all(len(texts) == 4 and all("\n" not in t for t in texts) for texts in first.values())
    assert first == again
    assert first != other
    # several different texts for one prompt: they really are samples, not the greedy answer repeated
    assert any(len(set(texts)) > 1 for texts in first.values())


def test_the_first_sample_is_the_generation_text_with_its_tokens(lm_path: Path) -> None:
    backend = HFBackend(str(lm_path), max_new_tokens=6, batch_size=8)
    request = GenerationRequest(example_id="q", prompt=PROMPTS[0], stop=("\n",), n=3, temperature=1.0, seed=1)
    (generation,) = backend.generate([request], progress=False)
    assert generation.text == generation.samples[0]
    assert "".join(generation.tokens).startswith(generation.text)
    assert len(generation.logprobs) == len(generation.tokens) == len(generation.entropies)


def test_samples_near_zero_temperature_are_the_greedy_answer_and_its_log_probabilities(
        lm_path: Path) -> None:
    """The prompts' cache is computed once and shared by their samples: positions and padding
    must come out as in plain generation, so near-greedy samples equal the greedy answers."""
    backend = HFBackend(str(lm_path), max_new_tokens=6, batch_size=8)
    greedy = {g.example_id: g for g in backend.generate(
        [GenerationRequest(example_id=f"q{i}", prompt=p) for i, p in enumerate(PROMPTS)], progress=False)}
    cold = [GenerationRequest(example_id=f"q{i}", prompt=p, n=3, temperature=1e-4, seed=0)
            for i, p in enumerate(PROMPTS)]
    for sampled in backend.generate(cold, progress=False):
        plain = greedy[sampled.example_id]
        assert sampled.samples == [plain.text] * 3
        assert sampled.tokens == plain.tokens
        assert sampled.logprobs == pytest.approx(plain.logprobs, abs=1e-4)  # raw: independent of temperature


def test_batched_sampling_depends_on_the_batch_so_one_prompt_alone_draws_other_samples(lm_path: Path) -> None:
    """transformers draws a whole batch from one generator: a prompt's samples are reproducible
    for the same batch, but not equal to that prompt sampled alone (documented in hf.py)."""
    backend = HFBackend(str(lm_path), max_new_tokens=6, batch_size=64)
    batched = sample(backend, 3, n=8)
    alone = {**sample(backend, 3, n=8, prompts=PROMPTS[:1])}
    assert batched["q0"] != alone["q0"]
    assert sample(backend, 3, n=8, prompts=PROMPTS[:1]) == alone


def test_entropies_are_those_of_each_step_distribution(lm_path: Path) -> None:
    backend = HFBackend(str(lm_path), max_new_tokens=4)
    (generation,) = backend.generate([GenerationRequest(example_id="q", prompt=PROMPTS[1])], progress=False)
    ids = backend.encode(PROMPTS[1])
    with torch.no_grad():
        for entropy in generation.entropies:
            logp = torch.log_softmax(backend.model(torch.tensor([ids])).logits[0, -1].float(), dim=-1)
            assert entropy == pytest.approx(float(-(logp.exp() * logp).sum()), abs=1e-4)
            ids.append(int(logp.argmax()))
        assert len(generation.entropies) == len(generation.tokens) > 0


def test_score_is_the_log_probability_of_each_continuation_after_the_prompt(lm_path: Path) -> None:
    backend = HFBackend(str(lm_path), batch_size=3)  # rows of one request across two batches
    requests = [ScoreRequest(example_id=f"q{i}", prompt=p, continuations=(" A", " B", " red\n"))
                for i, p in enumerate(PROMPTS[:3])]
    scores = {s.example_id: s for s in backend.score(requests, progress=False)}
    assert sorted(scores) == ["q0", "q1", "q2"]
    tokenizer, model = backend.tokenizer, backend.model
    for i, prompt in enumerate(PROMPTS[:3]):
        got = scores[f"q{i}"]
        assert got.continuations == [" A", " B", " red\n"] and got.error is None
        for text, value in zip(got.continuations, got.logprobs, strict=True):
            prompt_ids = backend.encode(prompt)
            cont = tokenizer(text, add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                logp = torch.log_softmax(model(torch.tensor([prompt_ids + cont])).logits[0].float(), dim=-1)
            expected = sum(float(logp[len(prompt_ids) - 1 + k, t]) for k, t in enumerate(cont))
            assert value == pytest.approx(expected, abs=1e-4)


def test_a_request_for_several_greedy_samples_is_one_line() -> None:
    backend = HFBackend("unused-path", max_new_tokens=4)
    request = GenerationRequest(example_id="q", prompt="x", n=3, temperature=0.0)
    with pytest.raises(ParameterError, match="3 samples need a temperature above 0"):
        list(backend.generate([request], progress=False))
    with pytest.raises(ParameterError, match="n .samples. must be at least 1"):
        list(backend.generate([GenerationRequest(example_id="q", prompt="x", n=0)], progress=False))
