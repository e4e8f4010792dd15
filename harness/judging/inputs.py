"""What a judge is shown for one item, and so what keys its verdict.

A judge declares what it reads (``reads``, a tuple of ``READABLE`` names) and the settings
that can change its verdict (``verdict_settings``, a JSON-native dict: temperature, token
limits, thinking budget ...). A judge that declares neither reads the question, the gold
answer and the predicted answer, and has no such settings.

- ``question``, ``gold``: the example's question and gold answer;
- ``answer``, ``confidence``: the prediction's answer and stated confidence;
- ``response``: the whole generation the answer was taken from (HLE's judge reads it and
  extracts the answer itself); ``None`` where the runner was given none.

The persistent cache and resume key a verdict on exactly this (``verdict_key``), so a
verdict is never returned for a response the judge was not shown: a trained model that gives
the baseline's answer with another confidence is asked again by a judge that reads it.
"""

from __future__ import annotations

from typing import Any

from harness.errors import HarnessError
from harness.records import Example, Prediction

READABLE = ("question", "gold", "answer", "confidence", "response")
DEFAULT_READS = ("question", "gold", "answer")


def reads(judge: Any) -> tuple[str, ...]:
    """What ``judge`` reads (``DEFAULT_READS`` when it does not say); an unknown name is an error."""
    declared = tuple(getattr(judge, "reads", DEFAULT_READS))
    unknown = [name for name in declared if name not in READABLE]
    if unknown:
        raise HarnessError(f"judge {getattr(judge, 'name', '?')!r} reads unknown input(s) "
                           f"{', '.join(map(repr, unknown))} (known: {', '.join(READABLE)})")
    return declared


def verdict_settings(judge: Any) -> dict[str, Any]:
    """The settings of ``judge`` that can change a verdict (``{}`` when it declares none)."""
    return dict(getattr(judge, "verdict_settings", None) or {})


def shown(judge: Any, example: Example, prediction: Prediction, response: str | None) -> dict[str, Any]:
    """What ``judge`` is shown of one item, by name."""
    everything = {"question": example.question, "gold": example.answer, "answer": prediction.answer,
                  "confidence": None if prediction.error else prediction.confidence, "response": response}
    return {name: everything[name] for name in reads(judge)}


def verdict_key(name: str, judge: Any, example: Example, prediction: Prediction, response: str | None) -> str:
    """The key of ``judge``'s verdict on one item: its registered ``name``, model, prompt
    version and verdict settings, and what it is shown."""
    from harness.judging.cache import cache_key

    return cache_key(judge=name, model=judge.model, prompt_version=judge.prompt_version,
                     settings=verdict_settings(judge), shown=shown(judge, example, prediction, response))
