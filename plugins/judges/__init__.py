"""Built-in judges: ``mock`` (offline normalised exact matching), ``openai`` and ``gemini``
(SimpleQA's grading rules in the project's own words, with SimpleQA's grader configuration
by default: system message "You are a helpful assistant.", temperature 0.5, at most 2048
tokens, and for ``openai`` its grader model ``gpt-4.1-2025-04-14``), and ``hle``
(Humanity's Last Exam's structured-output judge, through the ``openai`` SDK). Each module is
imported only when its judge is built, so listing strategies loads no SDK. (The factories
are not named after their judges: ``mock`` is also a submodule, whose import would replace a
function of that name.)"""

from __future__ import annotations

from typing import Any, Literal

import harness

# the grader configuration of SimpleQA's reference code (grader_prompt imports no SDK)
from harness.plugins.judges.grader_prompt import MAX_TOKENS, SYSTEM_MESSAGE, TEMPERATURE


def mock_factory(replay: str = "") -> Any:
    """Offline grading: normalised exact match against the gold answer and its aliases."""
    from harness.plugins.judges.mock import MockJudge

    return MockJudge(replay=replay)


def openai_factory(
    model: str = "gpt-4.1-2025-04-14",
    base_url: str = "",
    temperature: float = TEMPERATURE,
    max_tokens: int = MAX_TOKENS,
    system: str = SYSTEM_MESSAGE,
    template: str = "",
    unparsed: Literal["not_attempted", "error"] = "not_attempted",
    price_input: float | None = None,
    price_output: float | None = None,
) -> Any:
    """SimpleQA's grading rules through any OpenAI-compatible chat server."""
    settings = dict(locals())
    from harness.plugins.judges.openai_judge import OpenAIJudge

    return OpenAIJudge(**settings)


def gemini_factory(
    model: str = "gemini-2.5-flash",
    base_url: str = "",
    temperature: float = TEMPERATURE,
    max_tokens: int = MAX_TOKENS,
    thinking_budget: int = 0,
    system: str = SYSTEM_MESSAGE,
    template: str = "",
    unparsed: Literal["not_attempted", "error"] = "not_attempted",
    price_input: float | None = None,
    price_output: float | None = None,
) -> Any:
    """SimpleQA's grading rules through Google's Gemini API (google-genai)."""
    settings = dict(locals())
    from harness.plugins.judges.gemini_judge import GeminiJudge

    return GeminiJudge(**settings)


def hle_factory(
    model: str = "o3-mini-2025-01-31",
    base_url: str = "",
    max_tokens: int = 4096,
    system: str = "",
    unparsed: Literal["not_attempted", "error"] = "error",
    price_input: float | None = None,
    price_output: float | None = None,
) -> Any:
    """Humanity's Last Exam's structured-output judge, through any OpenAI-compatible server."""
    settings = dict(locals())
    from harness.plugins.judges.hle_judge import HLEJudge

    return HLEJudge(**settings)


@harness.hookimpl
def register_judges(register):  # type: ignore[no-untyped-def]
    register("mock", mock_factory)
    register("openai", openai_factory)
    register("gemini", gemini_factory)
    register("hle", hle_factory)
