"""List prices of judge models, to put a cost on the token usage of a judging stage.

USD per million tokens (input, output), standard tier, as published in 2025. A model not
listed (a local server, a new model) has no known price: its cost is ``None``, unless the
judge's ``price_input`` / ``price_output`` parameters give one.
"""

from __future__ import annotations

import re

_SNAPSHOT = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{3,})$")

PRICES: dict[str, tuple[float, float]] = {
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "o4-mini": (1.10, 4.40),
    "o3-mini": (1.10, 4.40),  # HLE's judge
    "o3": (2.00, 8.00),
    "gemini-2.5-pro": (1.25, 10.00),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-flash-lite": (0.10, 0.40),
    "gemini-2.0-flash": (0.10, 0.40),
    "gemini-2.0-flash-lite": (0.075, 0.30),
}


def price_of(
    model: str, price_input: float | None = None, price_output: float | None = None
) -> tuple[float, float] | None:
    """``(input, output)`` USD per million tokens, or ``None`` when unknown."""
    if price_input is not None and price_output is not None:
        return float(price_input), float(price_output)
    name = model.split("/")[-1]
    # a dated or numbered snapshot ("gpt-4.1-mini-2025-04-14", "gemini-2.0-flash-001")
    # costs what its family costs
    name = _SNAPSHOT.sub("", name)
    return PRICES.get(name)


def cost(usage: dict[str, int], price: tuple[float, float] | None) -> float | None:
    """USD for ``usage`` (``prompt_tokens``, ``completion_tokens``) at ``price``."""
    if price is None:
        return None
    prompt = usage.get("prompt_tokens", 0) or 0
    completion = usage.get("completion_tokens", 0) or 0
    return (prompt * price[0] + completion * price[1]) / 1_000_000
