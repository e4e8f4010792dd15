"""Built-in judges: ``mock`` (offline normalised matching), ``openai`` and ``gemini`` (the
project's SimpleQA-style grader prompt). Each module is imported only when its judge is
built, so listing strategies loads no SDK. (The factories are not named after their judges:
``mock`` is also a submodule, whose import would replace a function of that name.)"""

from __future__ import annotations

from typing import Any

import harness


def mock_factory(replay: str = "") -> Any:
    from harness.plugins.judges.mock import MockJudge

    return MockJudge(replay=replay)


def openai_factory(
    model: str = "gpt-4.1-mini",
    base_url: str = "",
    temperature: float = 0.0,
    max_tokens: int = 0,
    price_input: float | None = None,
    price_output: float | None = None,
) -> Any:
    from harness.plugins.judges.openai_judge import OpenAIJudge

    return OpenAIJudge(
        model=model, base_url=base_url, temperature=temperature, max_tokens=max_tokens,
        price_input=price_input, price_output=price_output,
    )


def gemini_factory(
    model: str = "gemini-2.5-flash",
    base_url: str = "",
    temperature: float = 0.0,
    max_tokens: int = 0,
    thinking_budget: int = 0,
    price_input: float | None = None,
    price_output: float | None = None,
) -> Any:
    from harness.plugins.judges.gemini_judge import GeminiJudge

    return GeminiJudge(
        model=model, base_url=base_url, temperature=temperature, max_tokens=max_tokens,
        thinking_budget=thinking_budget, price_input=price_input, price_output=price_output,
    )


@harness.hookimpl
def register_judges(register):  # type: ignore[no-untyped-def]
    register("mock", mock_factory)
    register("openai", openai_factory)
    register("gemini", gemini_factory)
