"""The ``brier`` trainer: LoRA with the tokenized Brier loss of the stated confidence (ConfTuner).

The loss reads the model's next-token distribution over the grid tokens after
``Confidence: 0.``, renormalised, as a distribution over confidences and takes its expected
Brier score against the judged correctness.
"""

from __future__ import annotations

import pytest
from torch_helpers import one_torch_thread
from trainer_fixtures import COLOURS

from harness.errors import ParameterError
from harness.plugins.extractors.formats import verbalized_prompt
from harness.plugins.extractors.verbalized import VerbalizedExtractor
from harness.plugins.trainers.brier import BrierTrainer, grid_values
from harness.records import Example, ModelRef, TrainingRecord


def records(n: int) -> list[TrainingRecord]:
    """Judged verbalized answers: every third one wrong."""
    out = []
    for i in range(n):
        gold = COLOURS[i % len(COLOURS)]
        correct = i % 3 != 0
        answer = gold if correct else COLOURS[(i + 1) % len(COLOURS)]
        example = Example(id=f"item-{i}", question=f"What is the colour of item {i}?", answer=gold)
        out.append(TrainingRecord(example=example, prompt=verbalized_prompt(example.question),
                                  completion=f"Answer: {answer}\nConfidence: 0.80", answer=answer,
                                  confidence=0.8, correct=correct))
    return out


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    yield from one_torch_thread()


def build(path, recs, out, **params):  # type: ignore[no-untyped-def]
    overrides = params.pop("overrides", {})
    settings = dict(lora_dropout=0.0, target_modules="all-linear", batch_size=4,
                    gradient_accumulation_steps=1)
    trainer = BrierTrainer(**{**settings, **params})
    return trainer.build(ModelRef(base=str(path)), recs, out, VerbalizedExtractor(), **overrides)


def test_the_loss_equals_a_hand_computation_from_the_logits(learnable_lm_path, tmp_path):
    import torch

    from harness.plugins.trainers.encoding import collate

    recs = records(4)
    trainer, _, _ = build(learnable_lm_path, recs, tmp_path, lam=2.0, lm_on="all")
    features = list(trainer.train_dataset)
    batch = collate(features, pad_token_id=trainer.processing_class.pad_token_id or 0)
    model = trainer.model.eval()
    with torch.no_grad():
        loss = trainer.compute_loss(model, batch).item()
        tokenizer = trainer.processing_class
        grid_ids = [tokenizer(f"Confidence: 0.{d}", add_special_tokens=False)["input_ids"][-1]
                    for d in range(10)]
        lm_nll, lm_tokens, brier, grid_nll = 0.0, 0, 0.0, 0.0
        for feature, record in zip(features, recs, strict=True):
            ids = torch.tensor([feature["input_ids"]])
            logits = model(input_ids=ids).logits[0].float()
            logp = torch.log_softmax(logits, dim=-1)
            for i, on in enumerate(feature["lm_mask"]):
                if on and i > 0:
                    lm_nll -= logp[i - 1, feature["input_ids"][i]].item()
                    lm_tokens += 1
            p = torch.softmax(logits[-1, grid_ids], dim=-1)
            values = torch.tensor(grid_values(range(10), []))
            brier += (p * (values - float(record.correct)) ** 2).sum().item()
            grid_nll -= torch.log(torch.softmax(logits[-1], dim=-1)[grid_ids].sum()).item()
    n = len(recs)
    assert loss == pytest.approx(lm_nll / lm_tokens + 2.0 * brier / n + grid_nll / n, rel=1e-5)


def expected_brier(trainer) -> float:  # type: ignore[no-untyped-def]
    """The mean expected Brier score over the training set, from the logits."""
    import torch

    from harness.plugins.trainers import brier_loss
    from harness.plugins.trainers.encoding import collate

    batch = collate(list(trainer.train_dataset), pad_token_id=trainer.processing_class.pad_token_id or 0)
    trainer.model.eval()
    with torch.no_grad():
        logits = trainer.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    last = batch["answer_mask"].argmax(dim=1)
    grid = logits[torch.arange(len(last)), last][:, trainer.grid_ids]
    brier, _ = brier_loss.expected_brier(grid, trainer.values, batch["is_correct"])
    return float(brier.mean())


def test_a_few_steps_lower_the_expected_brier_score(learnable_lm_path, tmp_path):
    trainer, _, _ = build(learnable_lm_path, records(12), tmp_path, lam=1.0, lm_on="none", format_weight=0.0,
                          overrides=dict(learning_rate=1e-2, max_steps=15))
    before = expected_brier(trainer)
    trainer.train()
    after = expected_brier(trainer)
    assert after < before - 0.01, (before, after)
    log = (tmp_path / "train_log.jsonl").read_text()
    assert '"brier"' in log and '"grid_nll"' in log and '"mean_confidence"' in log


def test_the_format_term_raises_the_probability_of_writing_a_grid_token(learnable_lm_path, tmp_path):
    def grid_mass(trainer) -> float:  # type: ignore[no-untyped-def]
        import torch

        from harness.plugins.trainers.encoding import collate

        batch = collate(list(trainer.train_dataset), pad_token_id=trainer.processing_class.pad_token_id or 0)
        trainer.model.eval()
        with torch.no_grad():
            out = trainer.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        last = out.logits[torch.arange(len(out.logits)), batch["answer_mask"].argmax(dim=1)]
        return float(torch.softmax(last, dim=-1)[:, trainer.grid_ids].sum(dim=1).mean())

    trainer, _, _ = build(learnable_lm_path, records(12), tmp_path, lam=1.0, lm_on="none",
                          overrides=dict(learning_rate=1e-2, max_steps=15))
    before = grid_mass(trainer)
    trainer.train()
    assert grid_mass(trainer) > before + 0.05


def lora_weights(trainer) -> dict:  # type: ignore[no-untyped-def]
    return {n: p.detach().clone() for n, p in trainer.model.named_parameters() if "lora_" in n}


def one_sgd_step(path, recs, out, batch_size, accumulation):  # type: ignore[no-untyped-def]
    trainer, _, _ = build(path, recs, out, lam=2.0, batch_size=batch_size,
                          gradient_accumulation_steps=accumulation,
                          overrides=dict(optim="sgd", learning_rate=0.5, max_steps=1, max_grad_norm=0.0))
    before = lora_weights(trainer)
    trainer.train()
    return {n: w - before[n] for n, w in lora_weights(trainer).items()}


def test_one_step_of_batch_4_equals_four_accumulated_steps_of_batch_1(learnable_lm_path, tmp_path):
    import torch

    recs = records(4)  # one wrong: no LM loss on it
    whole = one_sgd_step(learnable_lm_path, recs, tmp_path / "a", batch_size=4, accumulation=1)
    accumulated = one_sgd_step(learnable_lm_path, recs, tmp_path / "b", batch_size=1, accumulation=4)
    assert any(delta.abs().max() > 1e-4 for delta in whole.values())
    for name, delta in whole.items():
        torch.testing.assert_close(accumulated[name], delta, rtol=1e-4, atol=1e-7)


def test_a_grid_the_tokenizer_cannot_write_as_single_tokens_is_one_line(tiny_lm_path, tmp_path):
    with pytest.raises(ParameterError, match=r"cannot be expressed as single tokens after .* 'Paris' is"):
        build(tiny_lm_path, records(2), tmp_path, grid=["Paris", "red"])


@pytest.mark.parametrize("params", [dict(lam=-1), dict(format_weight=-1), dict(grid=["0"]),
                                    dict(values=[0.5]), dict(values=[0.1, 2.0]), dict(lm_on="some"),
                                    dict(marker="")])
def test_bad_parameters_are_refused_with_one_line(params):
    grid = {"grid": ["0", "1"]} if "values" in params else {}
    with pytest.raises(ParameterError, match="trainer 'brier'"):
        BrierTrainer(**{**grid, **params})


def test_values_default_to_the_bin_centres():
    assert grid_values(["0", "1"], []) == [0.25, 0.75]
    assert BrierTrainer().values == pytest.approx([0.05 + k / 10 for k in range(10)])
    assert all(0 < v < 1 for v in BrierTrainer().values)
