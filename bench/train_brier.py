"""Benchmark of the ``brier`` trainer's step against a plain LoRA LM step, on CPU.

The brier step (``BrierLossTrainer.compute_loss``: one forward pass giving the masked LM
loss and the grid-token distribution after ``Confidence: 0.`` for the expected Brier score)
against a plain LoRA step (the model's own cross-entropy on the same LM tokens), on the same
model, LoRA, batches and AdamW: forward, backward and optimizer step each. The two run
interleaved in rounds, so that a change in the machine's load hits both alike; the figure is
the ratio of the median step times (goal <= 1.2x). The model and data are those of
``bench/train.py`` (the embedded ``tiny`` model's size, random weights), in the verbalized format.

    python bench/train_brier.py            # batch 32, 20 rounds of 5 steps
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train import against_plain_lora, build_model, records  # noqa: E402 - bench/train.py's model


def verbalized(data: list) -> list:
    """The records in the verbalized format, as the brier trainer's training split comes."""
    import attrs

    from harness.plugins.extractors.formats import verbalized_completion, verbalized_prompt

    return [attrs.evolve(r, prompt=verbalized_prompt(r.example.question),
                         completion=verbalized_completion(r.answer, 0.5)) for r in data]


def step_times(path: Path, data: list, out: Path, batch_size: int, rounds: int, per_round: int) -> dict:
    """Median seconds per optimizer step: the brier loss vs the model's own LM loss."""
    import torch

    from harness.plugins.extractors.verbalized import VerbalizedExtractor
    from harness.plugins.trainers.brier import BrierTrainer
    from harness.plugins.trainers.encoding import collate
    from harness.records import ModelRef

    brier = BrierTrainer(lam=4.0, learning_rate=1e-3, batch_size=batch_size, gradient_accumulation_steps=1,
                         target_modules="all-linear", lora_dropout=0.0)
    trainer, _, _ = brier.build(ModelRef(base=str(path)), data, out, VerbalizedExtractor(), disable_tqdm=True)
    features = list(trainer.train_dataset)
    batches = [collate(features[i: i + batch_size], trainer.processing_class.pad_token_id)
               for i in range(0, len(features) - batch_size + 1, batch_size)]
    optimizer = torch.optim.AdamW([p for p in trainer.model.parameters() if p.requires_grad], lr=1e-3)
    trainer.model.train()

    def brier_step(batch: dict) -> None:
        trainer.compute_loss(trainer.model, batch).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    mine, plain = against_plain_lora(path, brier.settings, brier_step, batches, rounds, per_round)
    return {"brier_ms": 1000 * mine, "plain_ms": 1000 * plain}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--steps-per-round", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    args = parser.parse_args()

    import torch
    import transformers

    if args.threads:
        torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["HARNESS_CACHE_DIR"] = str(Path(tmp) / "cache")
        data = records(256)
        path = build_model(Path(tmp) / "model", data)
        steps = step_times(path, verbalized(data), Path(tmp) / "brier", args.batch_size, args.rounds,
                           args.steps_per_round)
    ratio = steps["brier_ms"] / steps["plain_ms"]
    print(f"tiny Llama (hidden 160, 2 layers, vocab 700), LoRA r16 all-linear, batch {args.batch_size}, CPU, "
          f"{torch.get_num_threads()} thread(s), load {os.getloadavg()[0]:.1f}")
    print(f"  brier step      {steps['brier_ms']:8.1f} ms   (LM loss + expected Brier of the grid token)")
    print(f"  plain LoRA step {steps['plain_ms']:8.1f} ms   (the model's own LM loss)")
    print(f"  ratio           {ratio:8.3f} x   (goal <= 1.2x)")
    print(json.dumps({**{k: round(v, 3) for k, v in steps.items()}, "brier_over_plain": round(ratio, 3)}))


if __name__ == "__main__":
    sys.exit(main())
