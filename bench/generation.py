"""Generation speed of the ``hf`` backend on a tiny model on the CPU, measured side by side:

1. batched vs one prompt at a time (goal: batched >= 4x faster);
2. generation with per-token log-probabilities (the backend: ``output_logits`` + a
   log-softmax at the chosen tokens, then trimming) vs plain ``model.generate`` on the same
   left-padded batches with the same stopping rule (goal: <= 1.10x the time).

Usage: ``python bench/generation.py [--model PATH_OR_NAME] [--prompts 64] [--new-tokens 32]``.
Without ``--model`` a random Llama the size of the embedded ``tiny`` model is built in a
temporary folder (it never emits a newline, so every prompt runs to ``--new-tokens``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def build_random_model(folder: Path) -> Path:
    from harness.plugins.models.build import new_causal_lm, save_model, train_tokenizer

    texts = [
        f"Question: What is the {r} of entity {i}?\nAnswer: value {i * 7 % 13}\n"
        for i in range(300)
        for r in ("colour", "home town", "favourite food")
    ]
    tokenizer = train_tokenizer(texts, vocab_size=700)
    model = new_causal_lm(tokenizer, hidden_size=160, num_layers=2, num_heads=4, seed=0)
    return save_model(model, tokenizer, folder)


def compare(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """The best wall time of each function over ``repeats`` rounds, the functions taking turns
    within a round (so a busy machine slows them alike), after one warm-up call each. The
    minimum, as ``timeit`` advises: on a shared machine the other times measure the others."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    if os.environ.get("BENCH_VERBOSE"):
        print({name: [round(v, 3) for v in values] for name, values in times.items()})
    return {name: min(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default="", help="a local folder or a model name (default: a random tiny Llama)"
    )
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: steadiest on a busy machine)"
    )
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)

    from harness.plugins.backends.hf import HFBackend, StopOnStrings
    from harness.plugins.extractors.logprob import LogprobExtractor
    from harness.records import Example
    from harness.strategies import GenerationRequest

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(build_random_model(Path(tmp) / "model"))
        extractor = LogprobExtractor()
        requests = [
            GenerationRequest(
                example_id=str(i),
                prompt=extractor.prompt(
                    Example(
                        id=str(i), question=f"What is the {'very ' * (i % 5)}colour of entity {i}?", answer=""
                    )
                ),
                stop=extractor.stop,
            )
            for i in range(args.prompts)
        ]

        def backend(batch_size: int) -> HFBackend:
            return HFBackend(model, max_new_tokens=args.new_tokens, batch_size=batch_size, device="cpu")

        batched, single = backend(args.batch_size), backend(1)
        batched.load()
        single.load()

        def run(b: HFBackend) -> Callable[[], object]:
            return lambda: list(b.generate(requests, progress=False))

        # plain generate: the same batches (sorted, left padded), the same stopping rule, no scores
        tokenizer, hf_model = batched.tokenizer, batched.model
        encoded = sorted((batched.encode(r.prompt) for r in requests), key=len, reverse=True)
        config = batched._generation_config()
        config.output_logits = config.output_scores = config.return_dict_in_generate = False

        def plain() -> None:
            for start in range(0, len(encoded), args.batch_size):
                ids = encoded[start : start + args.batch_size]
                batch = tokenizer.pad({"input_ids": ids}, padding=True, return_tensors="pt")
                width = batch["input_ids"].shape[1]
                stop = StopOnStrings(tokenizer, [list(extractor.stop)] * len(ids), width)
                with torch.inference_mode():
                    out = hf_model.generate(**batch, generation_config=config, stopping_criteria=[stop])
                tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)

        t = compare({"batched": run(batched), "plain": plain}, args.repeats)
        t_batched, t_plain = t["batched"], t["plain"]
        t_single = compare({"single": run(single)}, max(1, args.repeats // 3))["single"]
        outputs = list(batched.generate(requests, progress=False))
        generated = sum(len(g.tokens) for g in outputs)

    params = sum(p.numel() for p in hf_model.parameters())
    name = args.model or "random tiny Llama"
    rounds = max(1, args.repeats // 3)
    print(
        f"model: {name} ({params / 1e6:.2f}M parameters, vocab {len(tokenizer)}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    print(
        f"{args.prompts} prompts, up to {args.new_tokens} new tokens ({generated} generated), "
        f"batch {args.batch_size}, best of {args.repeats} runs (one at a time: of {rounds})"
    )
    speedup, cost = t_single / t_batched, t_batched / t_plain
    print(f"  one at a time            {t_single:8.3f} s")
    print(f"  batched, with logprobs   {t_batched:8.3f} s   {speedup:5.1f}x faster (goal >= 4x)")
    print(f"  batched, plain generate  {t_plain:8.3f} s   logprobs cost {cost:5.2f}x (goal <= 1.10x)")


if __name__ == "__main__":
    main()
