"""The ``implicit`` trainer: LoRA with ``lm_loss + lam * MSE(mean answer probability, correct)``."""

from __future__ import annotations

import json

import attrs
import pytest
from torch_helpers import one_torch_thread
from trainer_fixtures import check_documented_defaults, colour_records, load

from harness.errors import InsufficientDataError, ParameterError
from harness.machinery import registry
from harness.plugins.extractors.logprob import LogprobExtractor
from harness.plugins.trainers.encoding import completion_scores
from harness.plugins.trainers.implicit import ImplicitTrainer
from harness.records import ModelRef, TrainingRecord


def make_records(n: int) -> list[TrainingRecord]:
    """Judged answers of the plain format: every third one wrong, completions as backends
    return them (without the stop string)."""
    return colour_records(n)


def squared_error(model, tokenizer, records) -> float:
    probs, _ = completion_scores(model, tokenizer, [(r.prompt, r.completion) for r in records])
    return sum((p - float(r.correct)) ** 2 for p, r in zip(probs, records, strict=True)) / len(records)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    yield from one_torch_thread()


TINY = dict(  # a tiny random model needs a large learning rate and many epochs
    lam=8.0,
    learning_rate=1e-2,
    epochs=20,
    batch_size=8,
    gradient_accumulation_steps=1,
    target_modules="all-linear",
)


@pytest.fixture(scope="module")
def trained(learnable_lm_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("implicit")
    records = make_records(16)
    model = ModelRef(base=str(learnable_lm_path))
    ref = ImplicitTrainer(**TINY).train(model, records, out, LogprobExtractor())
    return ref, records, out


def test_training_lowers_the_squared_error_of_the_answer_probability(trained, learnable_lm_path):
    ref, records, _ = trained
    base, tokenizer = load(ModelRef(base=str(learnable_lm_path)))
    tuned, _ = load(ref)
    before, after = squared_error(base, tokenizer, records), squared_error(tuned, tokenizer, records)
    assert after < 0.8 * before


def test_each_step_logs_both_loss_components(trained):
    _, _, out = trained
    rows = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "lm_loss" in r]
    assert [r["step"] for r in steps] == list(range(1, 41))  # 16 records / batch 8 x 20 epochs
    for row in steps:
        assert row["phase"] == "implicit"
        assert row["loss"] == pytest.approx(row["lm_loss"] + 8.0 * row["mse"])
        assert 0 <= row["mean_prob"] <= 1
    assert steps[-1]["mse"] < steps[0]["mse"]


def test_the_saved_adapter_reloads_and_changes_the_models_outputs(trained, learnable_lm_path):
    import torch

    ref, records, out = trained
    assert ref.base == str(learnable_lm_path) and ref.adapter == str(out / "adapter")
    assert (out / "adapter" / "adapter_config.json").exists()
    assert (out / "adapter" / "tokenizer.json").exists()
    base, tokenizer = load(ModelRef(base=str(learnable_lm_path)))
    tuned, _ = load(ref)
    ids = tokenizer(records[0].prompt + records[0].completion, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert not torch.allclose(base(ids).logits, tuned(ids).logits, atol=1e-4)
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["counts"] == {"records": 16, "used": 16, "skipped_blank": 0, "correct": 10}
    assert summary["model"] == ref.to_dict()


def test_the_hf_backend_generates_with_the_trained_model(trained, learnable_lm_path):
    from harness.plugins.backends.hf import HFBackend
    from harness.strategies import GenerationRequest

    ref, records, _ = trained
    extractor = LogprobExtractor()
    requests = [
        GenerationRequest(example_id=r.example.id, prompt=r.prompt, stop=extractor.stop) for r in records
    ]

    def confidences(**model):
        backend = HFBackend(**model, max_new_tokens=4, device="cpu")
        return [extractor.extract(g).confidence for g in backend.generate(requests, progress=False)]

    assert confidences(model=ref.base, adapter=ref.adapter) != confidences(model=str(learnable_lm_path))


def lora_weights(trainer) -> dict:
    return {n: p.detach().clone() for n, p in trainer.model.named_parameters() if "lora_" in n}


def one_sgd_step(path, records, out, batch_size, accumulation):
    """One optimizer step of plain SGD (Adam's first step is blind to the gradient's scale)."""
    trainer, _, _ = ImplicitTrainer(
        lam=2.0,
        lora_dropout=0.0,
        batch_size=batch_size,
        gradient_accumulation_steps=accumulation,
        target_modules="all-linear",
    ).build(
        ModelRef(base=str(path)),
        records,
        out,
        optim="sgd",
        learning_rate=0.5,
        max_steps=1,
        max_grad_norm=0.0,
    )
    before = lora_weights(trainer)
    trainer.train()
    return {n: w - before[n] for n, w in lora_weights(trainer).items()}


def test_one_step_of_batch_4_equals_four_accumulated_steps_of_batch_1(learnable_lm_path, tmp_path):
    import torch

    records = make_records(4)  # answers of different lengths, one wrong: no LM loss on it
    records[1] = attrs.evolve(records[1], completion=" blue green", answer="blue green")
    whole = one_sgd_step(learnable_lm_path, records, tmp_path / "a", batch_size=4, accumulation=1)
    accumulated = one_sgd_step(learnable_lm_path, records, tmp_path / "b", batch_size=1, accumulation=4)
    assert any(delta.abs().max() > 1e-4 for delta in whole.values())
    for name, delta in whole.items():
        torch.testing.assert_close(accumulated[name], delta, rtol=1e-4, atol=1e-7)


def test_training_is_deterministic_on_cpu_for_a_seed(tiny_lm_path, tmp_path):
    import torch

    def run(folder, seed):
        trainer, _, _ = ImplicitTrainer(seed=seed, learning_rate=1e-2).build(
            ModelRef(base=str(tiny_lm_path)), make_records(8), tmp_path / folder, max_steps=2
        )
        trainer.train()
        return lora_weights(trainer)

    first, again, other = run("a", 0), run("b", 0), run("c", 1)
    assert all(torch.equal(first[n], again[n]) for n in first)
    assert not all(torch.equal(first[n], other[n]) for n in first)


@pytest.mark.parametrize(("lm_on", "covered"), [("correct", 2), ("all", 3), ("none", 0)])
def test_lm_on_chooses_which_answers_the_lm_loss_covers(tiny_lm_path, tmp_path, lm_on, covered):
    trainer, _, counts = ImplicitTrainer(lm_on=lm_on).build(
        ModelRef(base=str(tiny_lm_path)), make_records(3), tmp_path
    )
    assert counts["correct"] == 2
    assert sum(any(f["lm_mask"]) for f in trainer.train_dataset) == covered


def test_defaults_are_the_seeds_hyperparameters_in_the_registry():
    check_documented_defaults("implicit")
    trainer = registry.create("trainer", "implicit")
    assert (trainer.name, trainer.extractor) == ("implicit", "logprob")
    assert (trainer.lam, trainer.lm_on) == (1.0, "correct")
    s = trainer.settings
    assert (s.lora_r, s.lora_alpha, s.epochs, s.learning_rate, s.batch_size) == (16, 32, 3, 1e-5, 4)
    assert s.gradient_accumulation_steps == 4


@pytest.mark.parametrize(
    "params",
    [{"lm_on": "wrong"}, {"lam": -1}, {"lora_r": 0}, {"learning_rate": 0}, {"target_modules": 3},
     {"lora_dropout": 1.5}, {"chat_template": "maybe"}],
)
def test_bad_parameters_are_refused_with_one_line(params):
    with pytest.raises(ParameterError, match="implicit"):
        ImplicitTrainer(**params)


def test_no_records_or_only_blank_completions_is_an_error(tiny_lm_path, tmp_path):
    with pytest.raises(InsufficientDataError):
        ImplicitTrainer().train(ModelRef(base=str(tiny_lm_path)), [], tmp_path, LogprobExtractor())
    blank = [attrs.evolve(make_records(1)[0], completion="  ", answer="")]
    with pytest.raises(InsufficientDataError, match="non-blank"):
        ImplicitTrainer().train(ModelRef(base=str(tiny_lm_path)), blank, tmp_path, LogprobExtractor())


@pytest.mark.gpu
def test_on_a_gpu_training_runs_in_bf16_where_supported(learnable_lm_path, tmp_path):
    import torch

    from harness.plugins.trainers.common import choose_precision

    precision = choose_precision()
    assert not precision.use_cpu
    assert precision.bf16 == torch.cuda.is_bf16_supported(including_emulation=False)
    ref = ImplicitTrainer(**{**TINY, "epochs": 1}).train(
        ModelRef(base=str(learnable_lm_path)), make_records(16), tmp_path, LogprobExtractor()
    )
    tuned, _ = load(ref)
    assert any("lora_" in name for name, _ in tuned.named_parameters())
