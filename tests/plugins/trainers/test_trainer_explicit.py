"""The ``explicit`` trainer: DPO (TRL) on pairs of calibrated and miscalibrated stated confidences."""

from __future__ import annotations

import json

import pytest
from attrs import evolve as attrs_evolve
from torch_helpers import one_torch_thread
from trainer_fixtures import check_documented_defaults, colour_records, load

from harness.errors import InsufficientDataError, ParameterError
from harness.machinery import registry
from harness.plugins.extractors.verbalized import VerbalizedExtractor
from harness.plugins.trainers.encoding import completion_scores
from harness.plugins.trainers.explicit import ExplicitTrainer
from harness.records import ModelRef, TrainingRecord


def make_records(n: int) -> list[TrainingRecord]:
    """Judged plain-format answers: every third one wrong, and less likely under the model."""
    return colour_records(n, lambda i, correct: (0.55 if correct else 0.35) + 0.02 * (i % 5))


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    yield from one_torch_thread()


TINY = dict(  # a tiny random model needs a large learning rate
    learning_rate=1e-2,
    epochs=3,
    batch_size=8,
    gradient_accumulation_steps=1,
    n_rejected=2,
    target_modules="all-linear",
)


def mean_margin(model, tokenizer, pairs) -> float:
    """Mean log-probability of the chosen completion over the rejected one (each ended by eos,
    as DPO trains them)."""
    _, chosen = completion_scores(
        model, tokenizer, [(p["prompt"], p["chosen"]) for p in pairs], append_eos=True
    )
    _, rejected = completion_scores(
        model, tokenizer, [(p["prompt"], p["rejected"]) for p in pairs], append_eos=True
    )
    return sum(c - r for c, r in zip(chosen, rejected, strict=True)) / len(pairs)


@pytest.fixture(scope="module")
def trained(learnable_lm_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("explicit")
    records = make_records(12)
    model = ModelRef(base=str(learnable_lm_path))
    ref = ExplicitTrainer(**TINY).train(model, records, out, VerbalizedExtractor())
    return ref, records, out


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_short_dpo_run_raises_the_chosen_over_rejected_margin(trained, learnable_lm_path):
    ref, _, out = trained
    pairs = read_jsonl(out / "pairs.jsonl")
    base, tokenizer = load(ModelRef(base=str(learnable_lm_path)))
    tuned, _ = load(ref)
    assert mean_margin(tuned, tokenizer, pairs) > mean_margin(base, tokenizer, pairs) + 5.0


def test_the_pairs_file_holds_two_rivals_per_example_in_the_verbalized_format(trained):
    _, records, out = trained
    pairs = read_jsonl(out / "pairs.jsonl")
    assert len(pairs) == 2 * len(records)
    extractor = VerbalizedExtractor()
    first = pairs[0]
    assert first["prompt"] == extractor.prompt(records[0].example)
    assert first["chosen"] == extractor.format_completion(records[0].answer, first["target"])
    assert all(abs(p["target"] - p["rejected_confidence"]) >= 0.3 - 1e-9 for p in pairs)
    # empirical targets: P(correct) by confidence bin, so right answers get the higher ones
    right = [p["target"] for p in pairs if p["correct"]]
    wrong = [p["target"] for p in pairs if not p["correct"]]
    assert min(right) > max(wrong)
    calibrator = json.loads((out / "calibrator.json").read_text())
    assert calibrator["calibrator"] == "histogram" and calibrator["params"]["monotone"] is True


def test_each_dpo_step_is_logged_with_its_rewards(trained):
    _, _, out = trained
    steps = [r for r in read_jsonl(out / "train_log.jsonl") if "loss" in r]
    assert [r["step"] for r in steps] == list(range(1, 10))  # 24 pairs / batch 8 x 3 epochs
    assert all(r["phase"] == "dpo" and "rewards/margins" in r for r in steps)


def test_the_saved_adapter_reloads_and_changes_the_models_outputs(trained, learnable_lm_path):
    import torch

    ref, records, out = trained
    assert ref == ModelRef(base=str(learnable_lm_path), adapter=str(out / "adapter"))
    base, tokenizer = load(ModelRef(base=str(learnable_lm_path)))
    tuned, _ = load(ref)
    ids = tokenizer(VerbalizedExtractor().prompt(records[0].example), return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert not torch.allclose(base(ids).logits, tuned(ids).logits, atol=1e-4)
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["counts"]["pairs"] == 24 and summary["params"]["n_rejected"] == 2


def test_a_supervised_warm_up_is_merged_and_becomes_the_base_of_the_dpo_adapter(learnable_lm_path, tmp_path):
    import torch

    trainer = ExplicitTrainer(
        **{**TINY, "epochs": 1, "n_rejected": 1},
        sft_epochs=2,
        sft_learning_rate=1e-2,
        loss_type=["sigmoid", "sft"],
        merge=True,
    )
    records = make_records(8)
    ref = trainer.train(ModelRef(base=str(learnable_lm_path)), records, tmp_path, VerbalizedExtractor())

    assert ref == ModelRef(base=str(tmp_path / "merged"), adapter=None)  # merge = true
    warmed, tokenizer = load(ModelRef(base=str(tmp_path / "sft_merged")))
    dpo, _ = load(ModelRef(base=str(tmp_path / "sft_merged"), adapter=str(tmp_path / "adapter")))
    merged, _ = load(ref)
    original, _ = load(ModelRef(base=str(learnable_lm_path)))
    ids = tokenizer(VerbalizedExtractor().prompt(records[0].example), return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logits = [m(ids).logits for m in (original, warmed, dpo, merged)]
    assert not torch.allclose(logits[0], logits[1], atol=1e-4)  # the warm-up moved the model
    assert not torch.allclose(logits[1], logits[2], atol=1e-4)  # DPO moved it again
    torch.testing.assert_close(logits[2], logits[3], rtol=1e-4, atol=1e-4)  # merged == base + adapter
    phases = {r["phase"] for r in read_jsonl(tmp_path / "train_log.jsonl")}
    assert phases == {"sft", "dpo"}


def test_defaults_are_the_seeds_hyperparameters_in_the_registry():
    check_documented_defaults("explicit")
    trainer = registry.create("trainer", "explicit")
    assert (trainer.name, trainer.extractor) == ("explicit", "verbalized")
    assert (trainer.beta, trainer.loss_type, trainer.target) == (0.1, ["sigmoid"], "empirical")
    assert trainer.sft_epochs == 0
    s = trainer.settings
    assert (s.lora_r, s.epochs, s.learning_rate) == (16, 3, 1e-5)


@pytest.mark.parametrize(
    "params",
    [{"target": "oracle"}, {"calibrator": "plat"}, {"loss_type": ["nope"]}, {"loss_type": []},
     {"beta": 0}, {"n_rejected": 0}, {"min_distance": 0.7}, {"sft_epochs": -1}, {"batch_size": 0}],
)
def test_bad_parameters_are_refused_with_one_line(params):
    with pytest.raises(ParameterError, match="explicit"):
        ExplicitTrainer(**params)


def test_records_without_any_answer_are_an_error(learnable_lm_path, tmp_path):
    import attrs

    blank = [attrs.evolve(r, answer=" ", completion=" ") for r in make_records(2)]
    with pytest.raises(InsufficientDataError, match="non-blank"):
        ExplicitTrainer().train(ModelRef(base=str(learnable_lm_path)), blank, tmp_path, VerbalizedExtractor())


def test_examples_too_long_for_dpo_are_refused_with_a_count(learnable_lm_path, tmp_path, capsys):
    """TRL cuts a sequence longer than max_length at its end, through the Confidence: line: such
    examples are left out and counted, and those kept reach DPO whole."""
    from harness.plugins.trainers import common
    from harness.plugins.trainers.explicit import dpo_length

    records = make_records(12)
    for i in (1, 4):  # two questions far longer than the others
        question = "Tell me, after a long preamble, " * 12 + "which colour?"
        long = attrs_evolve(records[i].example, question=question)
        records[i] = attrs_evolve(records[i], example=long)
    tokenizer = common.load_tokenizer(str(learnable_lm_path))
    pairs, _ = ExplicitTrainer(**TINY).pairs(records, VerbalizedExtractor())
    lengths: dict[str, int] = {}
    for p in pairs:
        for completion in (p.chosen, p.rejected):
            n = dpo_length(tokenizer, p, completion, False)
            lengths[p.example_id] = max(lengths.get(p.example_id, 0), n)
    limit = max(v for k, v in lengths.items() if k not in ("item-1", "item-4"))
    assert min(lengths["item-1"], lengths["item-4"]) > limit
    trainer = ExplicitTrainer(**{**TINY, "epochs": 1}, max_length=limit)

    trainer.train(ModelRef(base=str(learnable_lm_path)), records, tmp_path, VerbalizedExtractor())
    summary = json.loads((tmp_path / "train_summary.json").read_text())
    assert (summary["counts"]["too_long"], summary["counts"]["used"]) == (2, 10)
    kept = {json.loads(line)["example_id"] for line in (tmp_path / "pairs.jsonl").read_text().splitlines()}
    assert kept.isdisjoint({"item-1", "item-4"}) and len(kept) == 10
    assert f"2 of 12 examples are longer than max_length = {limit} tokens" in capsys.readouterr().err

    dpo = trainer.dpo_trainer(common.load_model(str(learnable_lm_path), common.choose_precision()), tokenizer,
                              trainer.fitting(pairs, tokenizer, False)[0], tmp_path / "dpo", chat=False)
    for row in dpo.train_dataset:  # nothing left for TRL to cut
        assert len(row["prompt_ids"]) + max(len(row["chosen_ids"]), len(row["rejected_ids"])) <= limit
        assert "Confidence:" in tokenizer.decode(row["chosen_ids"])

    with pytest.raises(InsufficientDataError, match=r"all 12 examples are longer than max_length = 8 tokens"):
        model = ModelRef(base=str(learnable_lm_path))
        ExplicitTrainer(**TINY, max_length=8).train(model, records, tmp_path / "short")
