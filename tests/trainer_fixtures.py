"""What the trainer tests share: judged colour answers, a learnable tiny LM, and loading a
trained model reference back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.plugins.extractors.formats import plain_prompt
from harness.records import Example, ModelRef, TrainingRecord

COLOURS = ["red", "blue", "green", "yellow", "black", "white"]


def colour_records(
    n: int, confidence: Callable[[int, bool], float | None] = lambda i, correct: None
) -> list[TrainingRecord]:
    """Judged plain-format answers (completions as backends return them, without the stop
    string): every third one wrong; ``confidence(i, correct)`` is each record's confidence."""
    records = []
    for i in range(n):
        gold = COLOURS[i % len(COLOURS)]
        correct = i % 3 != 0
        answer = gold if correct else COLOURS[(i + 1) % len(COLOURS)]
        example = Example(id=f"item-{i}", question=f"What is the colour of item {i}?", answer=gold)
        records.append(
            TrainingRecord(
                example=example,
                prompt=plain_prompt(example.question),
                completion=f" {answer}",
                answer=answer,
                confidence=confidence(i, correct),
                correct=correct,
            )
        )
    return records


def learnable_lm(tiny_lm_path: Path, folder: Path) -> Path:
    """The tiny random LM with its (tied) embeddings scaled up, saved to ``folder``: LoRA on its
    linear layers can then move the logits (at init scale they cannot leave ~1/vocab)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_lm_path)
    with torch.no_grad():
        model.get_input_embeddings().weight.mul_(10.0)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_lm_path).save_pretrained(folder)
    return folder


def load(ref: ModelRef) -> tuple[Any, Any]:
    """The model a reference names (its adapter applied) and its tokenizer."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(ref.base)
    tuned = PeftModel.from_pretrained(base, ref.adapter) if ref.adapter else base
    return tuned, AutoTokenizer.from_pretrained(ref.base)


def check_documented_defaults(name: str) -> None:
    """registry.toml's ``[trainer]`` (the shared keys) under ``[trainer.NAME]`` documents every parameter
    of the trainer's factory, with the values a run gets and the factory's own defaults; the one
    table-valued parameter, ``training_args``, is written in a comment there."""
    from harness.machinery import registry
    from harness.machinery.config import shipped_registry

    params = registry.resolve_params("trainer", name)
    trainers = shipped_registry()["trainer"]
    shipped = {**{k: v for k, v in trainers.items() if not isinstance(v, dict)}, **trainers[name]}
    own = registry.get("trainer", name).parameters()
    tables = {k: v for k, v in own.items() if isinstance(v, dict)}
    assert tables == {"training_args": {}}
    shipped = {**shipped, **tables}
    assert set(shipped) == set(own)  # registry.toml documents every parameter of the factory
    assert params == shipped  # and its values are the ones a run gets
    assert own == shipped  # the factory's own defaults are the seed's values too
