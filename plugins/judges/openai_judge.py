"""The ``openai`` judge: the project's grader prompt through the ``openai`` SDK's async client.

Any OpenAI-compatible chat-completions server can judge (the OpenAI API, a local vLLM,
llama.cpp, SGLang): ``base_url`` comes from the parameter, else ``OPENAI_BASE_URL``, else
the SDK's default. The key comes from ``OPENAI_API_KEY`` only — it is no parameter, so it
can never be written into a config, a manifest or a cache. The SDK's own retries are off
(``max_retries=0``): the core's judge runner retries, with back-off, for every judge.
"""

from __future__ import annotations

import os
import re
from typing import Any

from harness.errors import HarnessError
from harness.plugins.judges.api_judge import ApiJudge

KEY_VARIABLE = "OPENAI_API_KEY"
# reasoning models accept no temperature
_REASONING = re.compile(r"^(?:o\d|gpt-5)")


class OpenAIJudge(ApiJudge):
    name = "openai"
    base_url_variable = "OPENAI_BASE_URL"
    default_model = "gpt-4.1-2025-04-14"  # the grader model of SimpleQA's reference code

    def __init__(self, **settings: Any) -> None:
        """``settings``: those of ``ApiJudge`` (the ``openai`` factory lists them with their defaults)."""
        try:
            import openai  # noqa: F401
        except ImportError:
            raise HarnessError(f"judge {self.name!r} needs the openai package: pip install openai") from None
        if not os.environ.get(KEY_VARIABLE):
            raise HarnessError(
                f"judge {self.name!r} needs an API key: set {KEY_VARIABLE} "
                "(any value, e.g. EMPTY, for a local server that needs none)"
            )
        super().__init__(**settings)

    @property
    def sends_temperature(self) -> bool:
        """Reasoning models accept no temperature."""
        return not _REASONING.match(self.model)

    @property
    def verdict_settings(self) -> dict[str, Any]:
        settings = {"max_tokens": self.max_tokens}
        if self.sends_temperature:
            settings["temperature"] = self.temperature
        return settings

    def _new_client(self) -> Any:
        import openai

        return openai.AsyncOpenAI(api_key=os.environ.get(KEY_VARIABLE), base_url=self.base_url, max_retries=0)

    async def _close_client(self, client: Any) -> None:
        await client.close()

    async def _ask(self, prompt: str, **options: Any) -> tuple[str | None, dict[str, int]]:
        """``options``: more fields of the request (the ``hle`` judge's ``response_format``)."""
        if self.sends_temperature:
            options["temperature"] = self.temperature
        if self.max_tokens > 0:
            options["max_completion_tokens"] = self.max_tokens
        messages = [{"role": "system", "content": self.system}] if self.system else []
        messages.append({"role": "user", "content": prompt})
        response = await self._connection().chat.completions.create(
            model=self.model, messages=messages, **options
        )
        usage = {}
        if response.usage is not None:
            usage = {
                "prompt_tokens": response.usage.prompt_tokens or 0,
                "completion_tokens": response.usage.completion_tokens or 0,
                "total_tokens": response.usage.total_tokens or 0,
            }
        text = response.choices[0].message.content if response.choices else None
        return text, usage
