"""Benchmark of the trainers on a tiny model on CPU: implicit vs plain LoRA step time; DPO steps/s.

1. The implicit step (``CalibrationLossTrainer.compute_loss``: one forward pass giving the
   masked LM loss and the mean answer-token probability for the MSE) against a plain LoRA
   LM step (the model's own cross-entropy on the same answer tokens), on the same model,
   LoRA, batches and AdamW: forward, backward and optimizer step each. The two run
   interleaved, in rounds, so that a change in the machine's load hits both alike; the
   figure is the ratio of the median step times (goal <= 1.15x).
2. DPO: TRL's ``DPOTrainer`` with a LoRA adapter (``ref_model=None``) on the same model,
   through ``ExplicitTrainer.dpo_trainer``; steps per second once built.

The model has the embedded ``tiny`` model's size (Llama, hidden 160, 2 layers, 4 heads,
BPE vocabulary 700), random weights: step time does not depend on what it knows.

    python bench/train.py                   # batch 32, 20 rounds of 5 steps; DPO 24 steps of batch 8
    python bench/train.py --threads 1       # one intra-op thread (a busy shared CPU likes it)
    python bench/train.py --under-load      # only 3.: idle and loaded, side by side
    python bench/train.py --checkpoints     # only 4.: what resumability costs

3. Threads under load (``--under-load``): the implicit step with torch's default threads and
   with one, idle and beside 1 and ``cpus + 1`` busy processes that the benchmark starts itself
   (spin loops bounded in time), side by side, each as a ratio to the same threads idle. On a
   shared machine "idle" means: no busy process of the benchmark's own.
4. Checkpoints (``--checkpoints``): a whole implicit training with its checkpoints (one every
   tenth of the steps, what makes a killed training resume) vs without, as a ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COLOURS = ["red", "blue", "green", "yellow", "black", "white", "amber", "violet"]
CITIES = ["Velmora", "Ostrand", "Kelbrook", "Tarnwick", "Islemont", "Dunhaven", "Corvale", "Marrowby"]


def records(n: int) -> list:
    from harness.plugins.extractors.formats import plain_prompt
    from harness.records import Example, TrainingRecord

    out = []
    for i in range(n):
        gold = CITIES[i % len(CITIES)]
        correct = i % 3 != 0
        answer = gold if correct else CITIES[(i + 3) % len(CITIES)]
        question = f"Where was the painter Arvid {COLOURS[i % 8]}-{i} born?"
        example = Example(id=f"e{i}", question=question, answer=gold)
        out.append(
            TrainingRecord(
                example=example,
                prompt=plain_prompt(example.question),
                completion=f" {answer}",
                answer=answer,
                confidence=0.3 + 0.6 * ((i * 37) % 100) / 100,
                correct=correct,
            )
        )
    return out


def build_model(folder: Path, data: list) -> Path:
    from harness.plugins.extractors.formats import verbalized_completion, verbalized_prompt
    from harness.plugins.models.build import new_causal_lm, save_model, train_tokenizer

    texts = [r.prompt + r.completion + "\n" for r in data]
    texts += [verbalized_prompt(r.example.question) + verbalized_completion(r.answer, 0.5) for r in data]
    tokenizer = train_tokenizer(texts, vocab_size=700)
    model = new_causal_lm(tokenizer, hidden_size=160, num_layers=2, num_heads=4, seed=0)
    return save_model(model, tokenizer, folder)


def implicit_setup(path: Path, data: list, out: Path, batch_size: int) -> tuple:
    """The implicit trainer's step (forward, backward, AdamW) and the batches it runs on."""
    import torch

    from harness.plugins.trainers.encoding import collate
    from harness.plugins.trainers.implicit import ImplicitTrainer
    from harness.records import ModelRef

    implicit = ImplicitTrainer(
        lam=8.0, learning_rate=1e-3, batch_size=batch_size, gradient_accumulation_steps=1,
        target_modules="all-linear", lora_dropout=0.0,
    )
    trainer, _, _ = implicit.build(ModelRef(base=str(path)), data, out, disable_tqdm=True)
    model = trainer.model
    features = list(trainer.train_dataset)
    batches = [
        collate(features[i : i + batch_size], trainer.processing_class.pad_token_id)
        for i in range(0, len(features) - batch_size + 1, batch_size)
    ]
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model.train()

    def step(batch: dict) -> None:
        loss = trainer.compute_loss(model, batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return implicit, trainer, step, batches


def timed(step, batches: list, n: int, offset: int) -> float:  # type: ignore[no-untyped-def]
    """Seconds per step over ``n`` steps."""
    start = time.perf_counter()
    for k in range(n):
        step(batches[(offset + k) % len(batches)])
    return (time.perf_counter() - start) / n


def against_plain_lora(path: Path, settings: object, step, batches: list, rounds: int,  # type: ignore[no-untyped-def]
                       per_round: int) -> tuple[float, float]:
    """Median seconds per step of ``step`` and of a plain LoRA step (the model's own LM loss on the
    same batches, same LoRA settings, AdamW), run interleaved in rounds so that a change in the
    machine's load hits both alike."""
    import torch
    from peft import get_peft_model

    from harness.plugins.trainers import common

    base = common.load_model(str(path), common.Precision(use_cpu=True, bf16=False))
    plain = get_peft_model(base, common.lora_config(base, settings))
    optimizer = torch.optim.AdamW([p for p in plain.parameters() if p.requires_grad], lr=1e-3)
    plain.train()

    def plain_step(batch: dict) -> None:
        loss = plain(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["lm_labels"]
        ).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    timed(step, batches, 3, 0)  # warm-up
    timed(plain_step, batches, 3, 0)
    a, b = [], []
    for r in range(rounds):
        first, second = (step, plain_step) if r % 2 == 0 else (plain_step, step)
        t1, t2 = timed(first, batches, per_round, r), timed(second, batches, per_round, r)
        (a if first is step else b).append(t1)
        (b if first is step else a).append(t2)
    return statistics.median(a), statistics.median(b)


def step_times(path: Path, data: list, out: Path, batch_size: int, rounds: int, per_round: int) -> dict:
    """Median seconds per optimizer step: implicit loss vs the model's own LM loss."""
    implicit, _, implicit_step, batches = implicit_setup(path, data, out, batch_size)
    mine, plain = against_plain_lora(path, implicit.settings, implicit_step, batches, rounds, per_round)
    return {
        "implicit_ms": 1000 * mine,
        "plain_ms": 1000 * plain,
        "tokens_per_batch": int(batches[0]["input_ids"].numel()),
    }


BUSY = "import time\nend = time.time() + {seconds}\nwhile time.time() < end:\n    pass\n"


def under_load(path: Path, data: list, out: Path, batch_size: int, steps: int, busy_counts: list[int],
               seconds: float) -> list[dict]:
    """Implicit step time with torch's default threads and with one, idle and beside busy
    processes that this benchmark starts (pure-Python spin loops, each ended after ``seconds``
    at most, and killed as soon as its measurement is done)."""
    import subprocess

    import torch

    _, _, step, batches = implicit_setup(path, data, out, batch_size)
    default = torch.get_num_threads()
    counts = list(dict.fromkeys([default, 1]))
    timed(step, batches, 3, 0)  # warm-up
    rows = []
    for busy in busy_counts:
        spin = [sys.executable, "-c", BUSY.format(seconds=seconds)]
        spinners = [subprocess.Popen(spin) for _ in range(busy)]
        try:
            time.sleep(0.5 if busy else 0)
            for threads in counts:
                torch.set_num_threads(threads)
                per_step = timed(step, batches, steps, 0)
                rows.append({"busy": busy, "threads": threads, "ms_per_step": round(1000 * per_step, 1)})
        finally:
            for spinner in spinners:
                spinner.kill()
                spinner.wait()
    torch.set_num_threads(default)
    return rows


def checkpoint_overhead(path: Path, data: list, out: Path, batch_size: int, rounds: int) -> dict:
    """A whole implicit training (2 epochs) with its checkpoints (one every tenth of the steps,
    what makes a killed training resumable) against the same without, interleaved; median s."""
    from harness.plugins.trainers import common
    from harness.plugins.trainers.implicit import ImplicitTrainer
    from harness.records import ModelRef

    implicit = ImplicitTrainer(lam=8.0, learning_rate=1e-3, batch_size=batch_size, epochs=2,
                               gradient_accumulation_steps=1, target_modules="all-linear")
    times: dict[str, list[float]] = {"with": [], "without": []}
    for r in range(rounds):
        for kind in (("with", "without") if r % 2 == 0 else ("without", "with")):
            folder = out / f"{kind}-{r}"
            extra = {} if kind == "with" else {"save_strategy": "no"}
            trainer, _, _ = implicit.build(ModelRef(base=str(path)), data, folder, disable_tqdm=True, **extra)
            start = time.perf_counter()
            common.run_phase(trainer, folder, "implicit")
            times[kind].append(time.perf_counter() - start)
    steps = 2 * (len(data) // batch_size)
    return {"steps": steps, "with_s": statistics.median(times["with"]),
            "without_s": statistics.median(times["without"])}


def print_under_load(rows: list[dict], batch_size: int, load: float) -> None:
    threads = list(dict.fromkeys(r["threads"] for r in rows))
    print(f"implicit step, batch {batch_size}, ms per step (ratio to the same threads idle); "
          f"{os.cpu_count()} CPUs, load average {load:.2f} at the start")
    print("  busy processes  " + "  ".join(f"{t} thread{'s' if t > 1 else ''}".rjust(22) for t in threads))
    idle = {r["threads"]: r["ms_per_step"] for r in rows if r["busy"] == 0}
    for busy in dict.fromkeys(r["busy"] for r in rows):
        cells = []
        for t in threads:
            ms = next(r["ms_per_step"] for r in rows if r["busy"] == busy and r["threads"] == t)
            cells.append(f"{ms:10.1f} ms ({ms / idle[t]:5.2f}x)".rjust(22))
        print(f"  {busy:>14}  " + "  ".join(cells))


def dpo_rate(path: Path, data: list, out: Path, steps: int, batch_size: int) -> dict:
    from harness.plugins.extractors.verbalized import VerbalizedExtractor
    from harness.plugins.trainers import common
    from harness.plugins.trainers.explicit import ExplicitTrainer

    explicit = ExplicitTrainer(
        learning_rate=2e-3, batch_size=batch_size, gradient_accumulation_steps=1, n_rejected=2,
        target_modules="all-linear", loss_type=["sigmoid", "sft"],
    )
    pairs, _ = explicit.pairs(data, VerbalizedExtractor())
    tokenizer = common.load_tokenizer(str(path))
    model = common.load_model(str(path), common.Precision(use_cpu=True, bf16=False))
    start = time.perf_counter()
    trainer = explicit.dpo_trainer(
        model, tokenizer, pairs, out, chat=False, max_steps=steps, disable_tqdm=True
    )
    built = time.perf_counter() - start
    start = time.perf_counter()
    trainer.train()
    elapsed = time.perf_counter() - start
    return {
        "dpo_steps": steps,
        "dpo_batch": batch_size,
        "dpo_build_s": built,
        "dpo_steps_per_s": steps / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--steps-per-round", type=int, default=5)
    parser.add_argument("--dpo-steps", type=int, default=24)
    parser.add_argument("--dpo-batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--under-load", action="store_true", help="only: threads idle vs busy")
    parser.add_argument("--load-steps", type=int, default=10, help="steps per measurement under load")
    parser.add_argument("--busy-seconds", type=float, default=300, help="bound of each busy process")
    parser.add_argument("--checkpoints", action="store_true", help="only: with vs without checkpoints")
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
        if args.checkpoints:
            cost = checkpoint_overhead(path, data, Path(tmp) / "ckpt", args.batch_size, rounds=3)
            ratio = cost["with_s"] / cost["without_s"]
            print(f"implicit training, {cost['steps']} steps of batch {args.batch_size}: "
                  f"{cost['with_s']:.2f} s with checkpoints, {cost['without_s']:.2f} s without: {ratio:.3f}x")
            print(json.dumps({**cost, "ratio": round(ratio, 3)}))
            return
        if args.under_load:
            busy = [0, 1, (os.cpu_count() or 1) + 1]
            load = os.getloadavg()[0]
            rows = under_load(path, data, Path(tmp) / "load", args.batch_size, args.load_steps, busy,
                              args.busy_seconds)
            print_under_load(rows, args.batch_size, load)
            print(json.dumps({"under_load": rows, "cpus": os.cpu_count(), "load_average_1m": load}))
            if args.json:
                args.json.write_text(json.dumps({"under_load": rows}, indent=2) + "\n")
            return
        steps = step_times(
            path, data, Path(tmp) / "implicit", args.batch_size, args.rounds, args.steps_per_round
        )
        dpo = dpo_rate(path, data, Path(tmp) / "dpo", args.dpo_steps, args.dpo_batch_size)
    ratio = steps["implicit_ms"] / steps["plain_ms"]
    figures = {
        **{k: round(v, 3) if isinstance(v, float) else v for k, v in {**steps, **dpo}.items()},
        "batch_size": args.batch_size,
        "implicit_over_plain": round(ratio, 3),
        "goal_ratio": 1.15,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    print(f"tiny Llama (hidden 160, 2 layers, vocab 700), LoRA r16 all-linear, batch {args.batch_size}, CPU")
    print(f"  implicit step   {steps['implicit_ms']:8.1f} ms   (LM loss + MSE, one forward pass)")
    print(f"  plain LoRA step {steps['plain_ms']:8.1f} ms   (the model's own LM loss)")
    print(f"  ratio           {ratio:8.3f} x   (goal <= 1.15x)")
    print(
        f"  DPO             {dpo['dpo_steps_per_s']:8.2f} steps/s (batch {args.dpo_batch_size} pairs, "
        f"built in {dpo['dpo_build_s']:.1f} s)"
    )
    print(json.dumps(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
