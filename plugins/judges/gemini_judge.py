"""The ``gemini`` judge: the project's grader prompt through ``google-genai``.

``google-genai`` is the maintained Gemini SDK (``google-generativeai`` is deprecated and
not used). The key comes from ``GEMINI_API_KEY`` or ``GOOGLE_API_KEY`` only, never from a
parameter. ``base_url`` (a parameter, else ``GOOGLE_GEMINI_BASE_URL``) points the client at
another endpoint (a proxy, or the tests' local server). The SDK's retries stay off (its
default): the core's judge runner retries. ``thinking_budget`` (default 0: the least
thinking each model family allows, the cheapest grading; -1 lets the model decide) is sent
as each family accepts it (``thinking_config``).
"""

from __future__ import annotations

import os
import re
from typing import Any

from harness.errors import HarnessError
from harness.plugins.judges.api_judge import ApiJudge

KEY_VARIABLES = ("GEMINI_API_KEY", "GOOGLE_API_KEY")


def _key() -> str | None:
    return next((os.environ[v] for v in KEY_VARIABLES if os.environ.get(v)), None)


#: the smallest thinking budget of Gemini 2.5 models that cannot switch thinking off
PRO_MIN_BUDGET = 128
#: the least thinking a Gemini 3 model allows, by family (they take a level, not a budget)
LOWEST_LEVEL = {"flash": "minimal", "pro": "low"}


def thinking_config(model: str, budget: int) -> dict[str, Any] | None:
    """What to send for ``thinking_budget = budget`` to ``model``, per family:

    - Gemini 2.5 Flash and Flash-Lite: the budget as given (0 switches thinking off);
    - Gemini 2.5 Pro cannot switch thinking off: a budget in [0, 128) becomes its minimum, 128;
    - Gemini 3 takes a ``thinking_level`` instead: budget 0 asks for the lowest level its
      family allows (Flash ``minimal``, Pro ``low``); another budget sends nothing (the
      model's dynamic default);
    - the aliases ``gemini-flash-latest``, ``gemini-flash-lite-latest`` and
      ``gemini-pro-latest`` follow the rule of the Gemini 2.5 model of their family;
    - other models (Gemini 2.0, 1.5, Gemma) do not think: nothing is sent.
    """
    name = model.split("/")[-1].lower()
    latest = re.match(r"gemini-(flash|pro)(?:-lite)?-latest$", name)
    if latest is not None:  # the "-latest" aliases point at a Gemini 2.5 model: its rule
        name = f"gemini-2.5-{latest.group(1)}"
    match = re.match(r"gemini-(\d+(?:\.\d+)?)-(flash|pro)", name)
    if match is None:
        return None
    version, family = float(match.group(1)), match.group(2)
    if version >= 3:
        return {"thinking_level": LOWEST_LEVEL[family]} if budget == 0 else None
    if version < 2.5:
        return None
    if family == "pro" and 0 <= budget < PRO_MIN_BUDGET:
        return {"thinking_budget": PRO_MIN_BUDGET}
    return {"thinking_budget": budget}


class GeminiJudge(ApiJudge):
    name = "gemini"
    base_url_variable = "GOOGLE_GEMINI_BASE_URL"
    default_model = "gemini-2.5-flash"

    def __init__(self, thinking_budget: int = 0, **settings: Any) -> None:
        """``settings``: those of ``ApiJudge`` (the ``gemini`` factory lists them with their defaults)."""
        try:
            from google import genai  # noqa: F401
        except ImportError:
            raise HarnessError(
                "judge 'gemini' needs the google-genai package: pip install 'calibration-harness[gemini]'"
            ) from None
        if not _key():
            raise HarnessError("judge 'gemini' needs an API key: set GEMINI_API_KEY (or GOOGLE_API_KEY)")
        super().__init__(**settings)
        self.thinking_budget = thinking_budget

    @property
    def verdict_settings(self) -> dict[str, Any]:
        return {**super().verdict_settings, "thinking": thinking_config(self.model, self.thinking_budget)}

    @property
    def reply_tokens(self) -> int:  # type: ignore[override]
        """A grade letter, plus the thinking budget where one is sent (billed as output)."""
        budget = (thinking_config(self.model, self.thinking_budget) or {}).get("thinking_budget") or 0
        return 2 + max(0, int(budget))

    def _new_client(self) -> Any:
        from google import genai
        from google.genai import types

        options = types.HttpOptions(base_url=self.base_url) if self.base_url else None
        return genai.Client(api_key=_key(), http_options=options)

    async def _close_client(self, client: Any) -> None:
        await client.aio.aclose()

    def _config(self) -> Any:
        from google.genai import types

        config: dict[str, Any] = {"temperature": self.temperature}
        if self.system:
            config["system_instruction"] = self.system
        if self.max_tokens > 0:
            config["max_output_tokens"] = self.max_tokens
        thinking = thinking_config(self.model, self.thinking_budget)
        if thinking is not None:
            config["thinking_config"] = types.ThinkingConfig(**thinking)
        return types.GenerateContentConfig(**config)

    async def _ask(self, prompt: str) -> tuple[str | None, dict[str, int]]:
        response = await self._connection().aio.models.generate_content(
            model=self.model, contents=prompt, config=self._config()
        )
        meta = response.usage_metadata
        usage = {}
        if meta is not None:
            prompt_tokens = meta.prompt_token_count or 0
            # thinking tokens are billed as output
            completion = (meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0)
            usage = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion,
                "total_tokens": meta.total_token_count or prompt_tokens + completion,
            }
        try:
            text = response.text
        except (ValueError, AttributeError):  # a blocked or empty candidate
            text = None
        return text, usage
