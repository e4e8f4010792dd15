"""The ``gemini`` judge: the project's grader prompt through ``google-genai``.

``google-genai`` is the maintained Gemini SDK (``google-generativeai`` is deprecated and
not used). The key comes from ``GEMINI_API_KEY`` or ``GOOGLE_API_KEY`` only, never from a
parameter. ``base_url`` (a parameter, else ``GOOGLE_GEMINI_BASE_URL``) points the client at
another endpoint (a proxy, or the tests' local server). The SDK's retries stay off (its
default): the core's judge runner retries. ``thinking_budget`` (default 0: no thinking,
the cheapest grading) is sent to Gemini 2.5 models only; -1 lets the model decide.
"""

from __future__ import annotations

import os
from typing import Any

from harness.errors import HarnessError
from harness.plugins.judges.api_judge import ApiJudge

KEY_VARIABLES = ("GEMINI_API_KEY", "GOOGLE_API_KEY")


def _key() -> str | None:
    return next((os.environ[v] for v in KEY_VARIABLES if os.environ.get(v)), None)


class GeminiJudge(ApiJudge):
    name = "gemini"
    base_url_variable = "GOOGLE_GEMINI_BASE_URL"

    def __init__(
        self,
        model: str = "gemini-2.5-flash",
        base_url: str = "",
        temperature: float = 0.0,
        max_tokens: int = 0,
        thinking_budget: int = 0,
        price_input: float | None = None,
        price_output: float | None = None,
    ) -> None:
        try:
            from google import genai  # noqa: F401
        except ImportError:
            raise HarnessError(
                "judge 'gemini' needs the google-genai package: pip install 'calibration-harness[gemini]'"
            ) from None
        if not _key():
            raise HarnessError("judge 'gemini' needs an API key: set GEMINI_API_KEY (or GOOGLE_API_KEY)")
        super().__init__(
            model=model, base_url=base_url, temperature=temperature, max_tokens=max_tokens,
            price_input=price_input, price_output=price_output,
        )
        self.thinking_budget = thinking_budget

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
        if self.max_tokens > 0:
            config["max_output_tokens"] = self.max_tokens
        if "2.5" in self.model:
            config["thinking_config"] = types.ThinkingConfig(thinking_budget=self.thinking_budget)
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
