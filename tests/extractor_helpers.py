"""Records to feed the extractors that follow up on a plain greedy answer."""

from __future__ import annotations

from typing import Any

from harness.plugins.extractors import formats
from harness.records import Example, Generation

EXAMPLE = Example(id="e1", question="What colour is the flag of Padikes?", answer="red")


def greedy(text: str = " red", **kwargs: Any) -> Generation:
    """The greedy plain answer ``text`` (one token per word)."""
    tokens = kwargs.pop("tokens", [text])
    return Generation(example_id=EXAMPLE.id, prompt=formats.plain_prompt(EXAMPLE.question), text=text,
                      tokens=tokens, logprobs=kwargs.pop("logprobs", [-0.1] * len(tokens)), **kwargs)
