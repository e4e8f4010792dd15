"""The ``verbalized`` extractor (explicit confidence): the model states ``Answer: X`` and
then ``Confidence: Y``; this module owns that prompt and parses the reply.

Accepted confidences: ``0.9``, ``.9``, ``90%``, ``90 %``, and a bare number above 1 and at
most 100 read as a percentage (``90`` -> 0.9), with markdown emphasis, brackets or a final
full stop around it ignored. Anything else — words, a negative number, more than 100%,
several different values, no ``Confidence:`` line — is a missing confidence whose reason
is recorded. The extractor never fills a missing confidence itself: the prediction keeps
``confidence=None`` and its ``error`` says what failed, and the core imputes it and counts it
(``harness.statistics.outcomes``: missing, imputed, and not ``answered`` for ``coverage``).
``on_missing`` says what the core imputes for this extractor (``missing_confidence``): a
fixed value in [0, 1] (default 1.0, Humanity's Last Exam's rule: a model that omits its
confidence is taken as fully confident, so leaving it out can never improve a calibration
score; ``hle`` names that rule), or ``exclude`` (no value of its own: the run's
``missing_confidence`` applies, also 1.0).

``scale`` picks the prompt: ``unit`` (default) asks for a probability from 0 to 1;
``percent`` asks, as Humanity's Last Exam's system prompt does, for an explanation, the
answer and ``Confidence: X%`` from 0% to 100% — then a bare number is a percentage too
(``Confidence: 1`` is 1%), and the reply is not cut at a blank line (the explanation may
have paragraphs; raise the backend's ``max_new_tokens``).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from harness.errors import ParameterError
from harness.plugins.extractors import formats
from harness.records import Example, Generation, Prediction

_CONFIDENCE = re.compile(r"confidence\s*:", re.IGNORECASE)
_ANSWER = re.compile(r"answer\s*:", re.IGNORECASE)
_VALUE = re.compile(r"^(?P<sign>[-+\u2212]?)\s*(?P<num>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(?P<pct>%?)$")
_NUMBER = re.compile(r"[0-9]*\.?[0-9]+")
_WRAPPERS = " \t*_`'\"()[]{}<>"
HLE_MISSING = 1.0  # HLE's judge takes a missing confidence as 100%
SCALES = ("unit", "percent")


def parse_value(raw: str, scale: str = "unit") -> tuple[float | None, str | None]:
    """A confidence from the text after ``Confidence:``: ``(value, None)`` or ``(None, reason)``.
    Under ``scale="percent"`` every bare number is a percentage."""
    value = raw.strip().strip(_WRAPPERS).rstrip(".,;!").strip(_WRAPPERS)
    shown = raw.strip()[:40]
    if not value:
        return None, "empty confidence"
    match = _VALUE.match(value)
    if match is None:
        numbers = _NUMBER.findall(value)
        if len(numbers) > 1:
            return None, f"several values in confidence {shown!r}"
        return None, f"confidence is not a number: {shown!r}"
    number = float(match["num"])
    if match["sign"] in ("-", "\u2212") and number > 0:
        return None, f"negative confidence {shown!r}"
    if match["pct"]:
        if number > 100:
            return None, f"confidence above 100%: {shown!r}"
        return number / 100, None
    if number <= 1 and scale != "percent":
        return number, None
    if number <= 100:
        return number / 100, None  # a bare 1 < x <= 100 is a percentage
    return None, f"confidence above 100: {shown!r}"


def parse_confidence(text: str, scale: str = "unit") -> tuple[float | None, str | None]:
    """The stated confidence of a reply: ``(value in [0, 1], None)`` or ``(None, reason)``."""
    found = []
    for match in _CONFIDENCE.finditer(text):
        rest = text[match.end() :].split("\n", 1)[0]
        found.append(parse_value(rest, scale))
    if not found:
        return None, "no 'Confidence:' line"
    values = {value for value, _ in found if value is not None}
    reasons = [reason for _, reason in found if reason is not None]
    if len(found) == 1:
        return found[0]
    if len(values) == 1 and not reasons:
        return values.pop(), None
    return None, f"{len(found)} conflicting 'Confidence:' values"


def parse_answer(text: str) -> str:
    """The text after the first ``Answer:`` (up to the line's end or a ``Confidence:``);
    without an ``Answer:``, the first line that is not a ``Confidence:`` line."""
    match = _ANSWER.search(text)
    if match is not None:
        line = text[match.end() :].split("\n", 1)[0]
    else:
        lines = [ln for ln in text.split("\n") if ln.strip() and not _CONFIDENCE.match(ln.strip(" *_"))]
        line = lines[0] if lines else ""
    conf = _CONFIDENCE.search(line)
    if conf is not None:
        line = line[: conf.start()]
    return line.strip().strip("*_").rstrip(" ,;(-[").strip()


def on_missing_value(setting: Any) -> float | None:
    """``exclude`` -> ``None``; ``hle`` -> 1.0 (HLE: a missing confidence is 100%); a number
    (or ``"100%"``-like text) in [0, 1] -> that number."""
    if isinstance(setting, str) and setting.strip().lower() == "exclude":
        return None
    if isinstance(setting, str) and setting.strip().lower() == "hle":
        return HLE_MISSING
    if isinstance(setting, bool):
        raise ParameterError("on_missing must be 'exclude' or a confidence in [0, 1], not a bool")
    if isinstance(setting, int | float):
        if 0 <= setting <= 1:
            return float(setting)
    elif isinstance(setting, str):
        value, _ = parse_value(setting)  # read as a stated confidence would be: "1.0", "100%"
        if value is not None:
            return value
    raise ParameterError(
        f"on_missing must be 'exclude', 'hle' or a confidence in [0, 1] (or 'N%'), not {setting!r}")


class VerbalizedExtractor:
    """Asks for ``Answer: X`` / ``Confidence: Y`` and parses both lines."""

    name = "verbalized"
    # the completion has two lines: stop at end-of-sequence or a blank line, not a newline
    stop: tuple[str, ...] = ("\n\n",)

    def __init__(self, on_missing: str | float = 1.0, scale: Literal["unit", "percent"] = "unit") -> None:
        if scale not in SCALES:
            raise ParameterError(f"extractor verbalized: scale must be 'unit' or 'percent', not {scale!r}")
        self.on_missing = on_missing
        self.scale = scale
        #: what the core imputes for a missing confidence of this extractor (None: the run's rule)
        self.missing_confidence = on_missing_value(on_missing)
        if scale == "percent":
            self.stop = ()  # HLE's explanation may run over paragraphs

    def prompt(self, example: Example) -> str:
        template = formats.PERCENT_TEMPLATE if self.scale == "percent" else formats.VERBALIZED_TEMPLATE
        return formats.verbalized_prompt(example.question, template)

    @staticmethod
    def format_completion(answer: str, confidence: float) -> str:
        """The completion this prompt expects (trainers build their targets with it)."""
        return formats.verbalized_completion(answer, confidence)

    def extract(self, generation: Generation) -> Prediction:
        if generation.error:
            return Prediction(
                example_id=generation.example_id,
                answer="",
                confidence=None,
                extractor=self.name,
                error=f"generation failed: {generation.error}",
            )
        answer = parse_answer(generation.text)
        confidence, reason = parse_confidence(generation.text, self.scale)
        return Prediction(
            example_id=generation.example_id,
            answer=answer,
            confidence=confidence,
            extractor=self.name,
            error=reason,
        )
