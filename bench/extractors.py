"""What the multi-request extractors cost on the ``hf`` backend, measured side by side on a tiny
model on the CPU:

1. sampling ``k`` answers for each of ``--prompts`` prompts in one call (``n = k`` per request:
   ``num_return_sequences``, one batched ``generate`` per batch of prompts) vs ``k`` separate
   calls of one sample per prompt, the way an extractor without ``n`` would ask (goal: >= 3x);
2. P(True): scoring the two options of the query for ``--scored`` examples (``score``: one
   forward pass per batch, no generation) vs generating a reply to the same queries greedily
   and reading the option from the text (the backend's default ``max_new_tokens``, stop at a
   newline).

Usage: ``python bench/extractors.py [--model PATH_OR_NAME] [--prompts 64] [--k 8] [--scored 450]``.
Without ``--model`` the random tiny Llama of ``bench/generation.py`` is built in a temporary
folder (it never emits a newline, so every generation runs to its token limit: the figures
are for full-length answers). Prints the best of ``--repeats`` interleaved rounds.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generation import build_random_model, compare  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="",
                        help="a local folder or a model name (default: a random tiny Llama)")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--scored", type=int, default=450)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch

    from harness.plugins.backends.hf import HFBackend
    from harness.plugins.extractors import formats
    from harness.strategies import GenerationRequest, ScoreRequest

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(build_random_model(Path(tmp) / "model"))
        backend = HFBackend(model, max_new_tokens=args.new_tokens, batch_size=args.batch_size)
        questions = [f"What is the colour of entity {i}?" for i in range(max(args.prompts, args.scored))]
        prompts = [formats.plain_prompt(q) for q in questions[: args.prompts]]

        def sampled(n: int, seed: int) -> list[GenerationRequest]:
            return [GenerationRequest(example_id=str(i), prompt=p, stop=("\n",), n=n, temperature=1.0,
                                      seed=seed)
                    for i, p in enumerate(prompts)]

        def one_call() -> None:
            assert all(len(g.samples) == args.k for g in backend.generate(sampled(args.k, 0), progress=False))

        def k_calls() -> None:
            for seed in range(args.k):
                assert len(list(backend.generate(sampled(1, seed), progress=False))) == len(prompts)

        sampling = compare({"one call, n=k": one_call, "k calls": k_calls}, args.repeats)
        queries = [formats.ptrue_prompt(q, "red") for q in questions[: args.scored]]

        def score() -> None:
            requests = [ScoreRequest(example_id=str(i), prompt=q, continuations=formats.PTRUE_OPTIONS)
                        for i, q in enumerate(queries)]
            assert len(list(backend.score(requests, progress=False))) == len(queries)

        def generate() -> None:
            requests = [GenerationRequest(example_id=str(i), prompt=q, stop=("\n",))
                        for i, q in enumerate(queries)]
            assert len(list(backend.generate(requests, progress=False))) == len(queries)

        ptrue = compare({"score": score, "generate": generate}, args.repeats)
    print(f"threads {torch.get_num_threads()}, model {args.model or 'random tiny Llama'}, "
          f"max_new_tokens {args.new_tokens}, batch_size {args.batch_size}")
    one, many = sampling["one call, n=k"], sampling["k calls"]
    print(f"sampling {args.k} answers for {args.prompts} prompts: one call {one:.2f} s, "
          f"{args.k} calls {many:.2f} s -> {many / one:.2f}x (goal >= 3x)")
    scored, generated = ptrue["score"], ptrue["generate"]
    print(f"P(True) for {args.scored} examples: score {scored:.2f} s, generate {generated:.2f} s "
          f"-> {generated / scored:.2f}x")


if __name__ == "__main__":
    main()
