"""What the API judges (``openai``, ``gemini``) share: their common settings (the grader
configuration: system message, temperature, template and unparsed policy), the grader prompt
as ``grade``, pricing as ``cost``, and one SDK client per event loop.

A judge reads the question, the gold target and the predicted answer (``reads``, the
default of ``harness.judging.inputs``); its ``verdict_settings`` (temperature, token limit;
a subclass adds its own) go into the cache key with what it reads.

A subclass checks its SDK and key, calls ``ApiJudge.__init__`` with its settings, and
supplies ``_new_client`` (an async SDK client), ``_close_client`` and ``_ask`` (prompt ->
reply text and token usage). No SDK is imported here.
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import os
from typing import Any

from harness.judging.budget import prompt_tokens
from harness.plugins.judges.grader_prompt import (
    SYSTEM_MESSAGE,
    TEMPERATURE,
    build_prompt,
    check_unparsed,
    grade_by_prompt,
    load_template,
)
from harness.plugins.judges.pricing import cost, price_of
from harness.records import Example, Judgment, Prediction


def prompt_version(template_version: str, unparsed: str, system: str) -> str:
    """Everything of the grader configuration that can change a verdict, but the model: the
    template's version (or hash), the unparsed policy and a system message other than
    SimpleQA's."""
    version = f"{template_version}/unparsed-{unparsed}"
    if system != SYSTEM_MESSAGE:
        version += f"/system-sha256-{hashlib.sha256(system.encode('utf-8')).hexdigest()[:12]}"
    return version


class ApiJudge(abc.ABC):
    """The grader prompt through a remote model; the SDK specifics are the subclass's."""

    name: str
    #: what the grader prompt shows of an item (``harness.judging.inputs.READABLE``)
    reads: tuple[str, ...] = ("question", "gold", "answer")
    #: tokens of a typical reply, for the cost estimate (a grade letter)
    reply_tokens: int = 2
    #: where ``base_url`` comes from when the parameter is empty
    base_url_variable: str
    default_model: str

    def __init__(
        self,
        *,
        model: str = "",
        base_url: str = "",
        temperature: float = TEMPERATURE,
        max_tokens: int = 2048,
        price_input: float | None = None,
        price_output: float | None = None,
        system: str = SYSTEM_MESSAGE,
        template: str = "",
        unparsed: str = "not_attempted",
    ) -> None:
        self.model = model or self.default_model
        self.base_url = base_url or os.environ.get(self.base_url_variable) or None
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.system = system
        self.unparsed = check_unparsed(unparsed)
        self.template, version = load_template(template)
        self.prompt_version = prompt_version(version, unparsed, system)
        self.price = price_of(self.model, price_input, price_output)
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def verdict_settings(self) -> dict[str, Any]:
        """The request settings that can change a verdict (the cache key holds them)."""
        return {"temperature": self.temperature, "max_tokens": self.max_tokens}

    def _connection(self) -> Any:
        """One client per event loop (the runner runs one loop per stage)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = self._new_client()
            self._loop = loop
        return self._client

    @abc.abstractmethod
    def _new_client(self) -> Any:
        """A new async client of the SDK."""

    @abc.abstractmethod
    async def _close_client(self, client: Any) -> None:
        """Close a client ``_new_client`` made."""

    @abc.abstractmethod
    async def _ask(self, prompt: str) -> tuple[str | None, dict[str, int]]:
        """The reply's text (``None`` when there is none) and its token usage."""

    async def grade(self, example: Example, prediction: Prediction) -> Judgment:
        return await grade_by_prompt(self, self._ask, example, prediction)

    def estimate_usage(self, example: Example, prediction: Prediction, response: str | None = None
                       ) -> dict[str, int]:
        """The usage one item is expected to take: its prompt's size and a typical reply."""
        prompt = build_prompt(example.question, example.answer, prediction.answer, self.template)
        return {"prompt_tokens": prompt_tokens(self.system, prompt), "completion_tokens": self.reply_tokens}

    def cost(self, usage: dict[str, int]) -> float | None:
        return cost(usage, self.price)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._close_client(self._client)
        self._client = None
        self._loop = None
