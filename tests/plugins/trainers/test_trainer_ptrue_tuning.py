"""The ``ptrue_tuning`` trainer (calibration-tuning): LoRA on the P(True) query alone, cross-entropy
of its two options against the verdict on the model's own answer; the answers stay the base model's."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from torch_helpers import one_torch_thread
from trainer_fixtures import COLOURS

from harness.errors import ParameterError
from harness.plugins.backends.hf import HFBackend
from harness.plugins.extractors import formats
from harness.plugins.extractors.ptrue import PTrueExtractor
from harness.plugins.trainers.ptrue_tuning import PTrueTuningTrainer, option_rows
from harness.records import Example, ModelRef, TrainingRecord
from harness.running.experiment import ExperimentSpec, run_experiment
from harness.strategies import ScoreRequest


def records(n: int) -> list[TrainingRecord]:
    """Judged plain answers: the even items right, the odd ones wrong."""
    out = []
    for i in range(n):
        gold = COLOURS[i % len(COLOURS)]
        correct = i % 2 == 0
        answer = gold if correct else COLOURS[(i + 1) % len(COLOURS)]
        example = Example(id=f"item-{i}", question=f"What is the colour of item {i}?", answer=gold)
        out.append(TrainingRecord(example=example, prompt=formats.plain_prompt(example.question),
                                  completion=f" {answer}\n", answer=answer, confidence=0.5, correct=correct))
    return out


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    yield from one_torch_thread()


def build(path, recs, out, **overrides):  # type: ignore[no-untyped-def]
    trainer = PTrueTuningTrainer(lora_dropout=0.0, target_modules="all-linear", batch_size=4,
                                 gradient_accumulation_steps=1, learning_rate=1e-2)
    return trainer.build(ModelRef(base=str(path)), recs, out, PTrueExtractor(), **overrides)


def p_true(model_path: Path, adapter: str | None, recs: list[TrainingRecord]) -> list[float]:
    """What the ptrue extractor reads, through the backend's score: P(A) normalised over A and B."""
    backend = HFBackend(str(model_path), adapter)
    requests = [ScoreRequest(example_id=r.example.id, continuations=formats.PTRUE_OPTIONS,
                             prompt=formats.ptrue_prompt(r.example.question, r.answer)) for r in recs]
    scores = {s.example_id: s.logprobs for s in backend.score(requests, progress=False)}
    return [1 / (1 + math.exp(scores[r.example.id][1] - scores[r.example.id][0])) for r in recs]


def test_the_loss_is_the_cross_entropy_of_the_two_options_the_extractor_reads(tiny_lm_path, tmp_path):
    import torch

    from harness.plugins.trainers.encoding import collate

    recs = records(4)
    trainer, _, counts = build(tiny_lm_path, recs, tmp_path)
    assert counts == {"records": 4, "used": 4, "too_long": 0, "correct": 2}
    batch = collate(list(trainer.train_dataset), pad_token_id=trainer.processing_class.pad_token_id or 0)
    with torch.no_grad():
        loss = trainer.compute_loss(trainer.model.eval(), batch).item()
    expected = [-math.log(p if r.correct else 1 - p) for r, p in zip(recs, p_true(tiny_lm_path, None, recs),
                                                                      strict=True)]
    assert loss == pytest.approx(sum(expected) / len(expected), abs=1e-5)  # LoRA starts as the identity


def test_a_few_steps_lower_the_query_cross_entropy(learnable_lm_path, tmp_path):
    recs = records(8)
    before = p_true(learnable_lm_path, None, recs)
    ref = PTrueTuningTrainer(lora_dropout=0.0, target_modules="all-linear", batch_size=8,
                             gradient_accumulation_steps=1, learning_rate=2e-2, epochs=8).train(
        ModelRef(base=str(learnable_lm_path)), recs, tmp_path, PTrueExtractor())
    assert ref.scope == "follow_ups" and ref.adapter
    after = p_true(learnable_lm_path, ref.adapter, recs)

    def ce(ps: list[float]) -> float:
        return -sum(math.log(p if r.correct else 1 - p) for r, p in zip(recs, ps, strict=True)) / len(recs)

    assert ce(after) < ce(before) - 0.1, (ce(before), ce(after))
    log = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert any("ptrue_ce" in row for row in log)


def test_merge_is_refused_since_the_adapter_must_not_answer() -> None:
    with pytest.raises(ParameterError, match="merge = true would let the adapter answer too"):
        PTrueTuningTrainer(merge=True)


def test_options_that_are_not_one_last_token_each_are_refused(tiny_lm_path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_lm_path)
    shared, last = option_rows(tokenizer, formats.PTRUE_OPTIONS)
    assert len(last) == 2 and last[0] != last[1]
    with pytest.raises(ParameterError, match="not told apart by one last token each"):
        option_rows(tokenizer, (" True", " False"))


def test_a_run_keeps_the_base_model_s_answers_and_verdicts(tiny_lm_path, tmp_path):
    """At evaluation the base model answers (the baseline's answers are reused, none generated or
    judged again) and the adapter scores the query: accuracy is the baseline's by construction."""
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps({"id": f"q{i}", "question": f"What is the colour of item {i}?",
                                      "answer": COLOURS[i % 6], "item": f"item{i // 2}"}) + "\n"
                          for i in range(24)))
    out = tmp_path / "run"
    report = run_experiment(ExperimentSpec(
        task="jsonl", model=str(tiny_lm_path), out=out, progress=False, trainers=("ptrue_tuning",),
        extractor="ptrue", calibrators=(),
        overrides=(f"task.path={qa}", "task.group_field=item", "backend.max_new_tokens=4",
                   "trainer.ptrue_tuning.epochs=1", "trainer.ptrue_tuning.batch_size=4")))
    (comp,) = report["comparisons"]
    assert comp["answers_from"] == "baseline/ptrue" and comp["changes"]["accuracy"]["diff"] == 0.0
    baseline, trained = ({json.loads(line)["example_id"]: json.loads(line)
                          for line in (out / stage / "test" / "generations.jsonl").read_text().splitlines()}
                         for stage in ("baseline/ptrue", "trained/ptrue_tuning"))
    assert trained == baseline and len(trained) == comp["paired_n"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["judging"]["stages"]["trained/ptrue_tuning/test"]["requests"] == 0
    assert "its adapter serves only the extractor's follow-up requests" in (out / "report.md").read_text()
