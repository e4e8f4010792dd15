"""Benchmark of the ``rl`` trainer on CPU: optimizer steps per second and the share of time judging.

One GRPO training of the embedded ``tiny`` model (world 0, built on first use) on the verbalized
prompts of ``--questions`` facts questions, through ``RLTrainer.train`` as ``harness run`` calls it,
with the ``mock`` judge graded through the core's runner (``harness.judging.TrainingJudge``). Both
figures come from the same run: steps per second of the whole training (generation, judging, the
policy and reference forward passes, backward, optimizer; building and saving excluded), and the
seconds spent in the judge's ``grade`` calls (the runner's event loop and files included) as a
share of the training time.

    python bench/train_rl.py                # 30 steps of 32 completions (4 questions x 8)
    python bench/train_rl.py --steps 60 --beta 0
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def records(n: int) -> list:
    """The verbalized prompts of ``n`` facts questions of world 0, as the training split gives them."""
    from harness.machinery import registry
    from harness.plugins.extractors.formats import verbalized_prompt
    from harness.records import TrainingRecord

    examples = registry.create("task", "facts").examples()[:n]
    return [TrainingRecord(example=e, prompt=verbalized_prompt(e.question), completion="", answer="",
                           confidence=None, correct=False) for e in examples]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32, help="completions per step")
    parser.add_argument("--num-generations", type=int, default=8)
    parser.add_argument("--beta", type=float, default=0.04)
    args = parser.parse_args()

    import torch

    from harness.judging.training import TrainingJudge
    from harness.machinery import registry
    from harness.plugins.extractors.verbalized import VerbalizedExtractor
    from harness.plugins.models import resolve_model
    from harness.plugins.trainers.rl import RLTrainer
    from harness.records import ModelRef

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    base = str(resolve_model("tiny"))
    data = records(args.questions)
    trainer = RLTrainer(num_generations=args.num_generations, batch_size=args.batch_size,
                        gradient_accumulation_steps=1, max_steps=args.steps, beta=args.beta,
                        learning_rate=1e-3, max_new_tokens=24, target_modules="all-linear")
    with tempfile.TemporaryDirectory() as tmp:
        judge, settings = registry.create_judge("mock")
        grader = TrainingJudge(judge, settings, name="mock", folder=Path(tmp) / "judging")
        built, _, _, grader = trainer.build(ModelRef(base=base), data, Path(tmp), VerbalizedExtractor(),
                                            grader, disable_tqdm=True, save_strategy="no")
        began = time.perf_counter()
        built.train()
        seconds = time.perf_counter() - began
    figures = {"steps": args.steps, "completions_per_step": args.batch_size,
               "num_generations": args.num_generations, "beta": args.beta,
               "train_s": round(seconds, 2), "steps_per_s": round(args.steps / seconds, 3),
               "judge_s": round(grader.stats["seconds"], 3), "judged_items": int(grader.stats["items"]),
               "judge_share": round(grader.stats["seconds"] / seconds, 4)}
    print(f"rl (GRPO, LoRA r16 all-linear) on the tiny model, {args.steps} steps of {args.batch_size} "
          f"completions ({args.num_generations} per question), beta {args.beta}, CPU")
    print(f"  steps per second  {figures['steps_per_s']:8.3f}")
    print(f"  judging           {figures['judge_s']:8.3f} s of {figures['train_s']:.1f} s "
          f"({100 * figures['judge_share']:.2f}%, {figures['judged_items']} items, mock judge, runner)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
