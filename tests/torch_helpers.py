"""What the tests of tiny torch models share: one torch thread while they run, and a tiny
model with large random weights."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path


def one_torch_thread() -> Iterator[None]:
    """Run with one torch thread, then restore the count: tiny models gain nothing from
    threads, and on a busy 2-core machine two threads spin-wait on each other (one test took
    18 s instead of 0.1 s; one thread is ~50x faster than several)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def varied_lm(tiny_lm_path: Path, folder: Path, seed: int) -> Path:
    """The tiny model with large random weights (drawn with ``seed``), saved to ``folder``: its
    greedy outputs differ from prompt to prompt (the freshly initialised one repeats one
    token), which makes comparisons bite."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_lm_path)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" not in name:
                param.normal_(0.0, 0.3, generator=generator)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_lm_path).save_pretrained(folder)
    return folder
