"""The ``hle`` judge: Humanity's Last Exam's judging, through any OpenAI-compatible server.

As centerforaisafety/hle ``hle_eval/run_judge_results.py`` judges, in this project's words:
the judge reads the model's *whole response* and returns a structured output (a JSON
schema, ``strict``) with five fields,

- ``extracted_final_answer``: the response's final answer as it gives it ("None" if none) —
  the judge extracts it itself, so an explanation that mentions other candidates, a
  markdown ``**Answer:**`` on its own line or a stray "confidence" earlier in the text
  cannot mislead a parser;
- ``reasoning``: only whether that answer matches the correct answer (no comment on the
  question's background, no solving it again);
- ``correct``: ``yes`` only when the answer matches the correct answer (a small margin for a
  numerical one); ``no`` otherwise — HLE grades strictly and has no "not attempted";
- ``confidence``: the confidence, 0-100, that the response states; 100 when it states none;
- ``strict``: always ``true`` (HLE's schema carries it).

The prompt gives the question, the response, then the fields, with the correct answer
between ``extracted_final_answer`` and ``reasoning``, in HLE's order. No system message and
no temperature are sent (HLE sends neither); ``max_tokens`` 4096 is HLE's
``max_completion_tokens``. The grade is ``correct`` or ``incorrect``, and the judge's
``confidence`` (divided by 100) goes on the judgment, where the report takes it instead of
the extractor's, as HLE does.

The judge declares that it reads the response (``reads``): the runner passes the whole
generation as ``response``. Where it has none (a trainer grading its own answers), the
judge reads the extracted answer and, when one was stated, ``Confidence: X%``. A reply that
does not validate against the schema is asked once more, then judged by ``unparsed``
(default ``error``); an empty reply is retried by the runner and, when it persists, a judge
error. HLE's accuracy counts such an item as wrong (``harness.statistics.simpleqa_metrics``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from harness.judging.budget import prompt_tokens
from harness.judging.retries import EmptyReply
from harness.plugins.judges.grader_prompt import unparsed_judgment
from harness.plugins.judges.openai_judge import OpenAIJudge
from harness.records import Example, Judgment, Prediction

PROMPT_VERSION = "hle-structured-v2"
HLE_MODEL = "o3-mini-2025-01-31"  # the judge of HLE's published results
MISSING_CONFIDENCE = 100  # HLE's judge takes a response without a confidence as fully confident
#: HLE's judge settings where they differ from the other API judges' (the ``hle`` factory's defaults)
HLE_SETTINGS = {"model": HLE_MODEL, "max_tokens": 4096, "system": "", "unparsed": "error"}

TEMPLATE = """\
Decide whether the [response] below answers the [question] correctly, judged strictly \
against the precise and unambiguous [correct_answer] further down.

[question]: {question}

[response]: {response}

Fill in the fields of your reply as follows.

extracted_final_answer: the final answer given in the [response], copied exactly as it is \
written there. Write "None" if the response gives no exact final answer.

[correct_answer]: {correct_answer}

reasoning: explain only whether extracted_final_answer agrees with [correct_answer], \
pointing out any meaningful difference between them. Do not comment on any background of \
the question, do not solve it again and do not argue for an answer other than \
[correct_answer].

correct: "yes" if extracted_final_answer agrees with [correct_answer], or differs from a \
numerical [correct_answer] only by a small margin; "no" for anything else: a different \
answer, an inconsistent, ambiguous or non-equivalent one, or no answer.

confidence: the confidence score, from 0 to 100, that the [response] states for its \
answer; 100 if it states none.

strict: true."""

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "extracted_final_answer": {"type": "string"},
        "reasoning": {"type": "string"},
        "correct": {"type": "string", "enum": ["yes", "no"]},
        "confidence": {"type": ["integer", "null"], "minimum": 0, "maximum": 100},
        "strict": {"type": "boolean", "enum": [True]},
    },
    "required": ["extracted_final_answer", "reasoning", "correct", "confidence", "strict"],
    "additionalProperties": False,
}
RESPONSE_FORMAT = {"type": "json_schema",
                   "json_schema": {"name": "hle_judgment", "strict": True, "schema": SCHEMA}}

_FENCE = re.compile(r"^\s*```(?:json)?\s*|\s*```\s*$")


def response_text(prediction: Prediction) -> str:
    """What the judge reads as the response when it is given no generation: the extracted
    answer and any stated confidence."""
    text = f"Answer: {prediction.answer.strip()}"
    if prediction.confidence is not None and not prediction.error:
        text += f"\nConfidence: {100 * prediction.confidence:g}%"
    return text


def parse_structured(reply: str | None) -> tuple[dict[str, Any] | None, str]:
    """``(fields, "")`` for a reply that validates (``confidence`` filled with 100 when null or
    absent), else ``(None, why)``."""
    if not reply:
        return None, "empty reply"
    try:
        data = json.loads(_FENCE.sub("", reply))
    except ValueError:
        return None, "not JSON"
    if not isinstance(data, dict):
        return None, "not a JSON object"
    answer, correct = data.get("extracted_final_answer"), data.get("correct")
    if not isinstance(answer, str):
        return None, "extracted_final_answer is not a string"
    if not isinstance(correct, str) or correct.strip().lower() not in ("yes", "no"):
        return None, f"correct is {correct!r}, not yes or no"
    confidence = data.get("confidence")
    if confidence is None:
        confidence = MISSING_CONFIDENCE
    if isinstance(confidence, str):
        try:
            confidence = float(confidence.strip().rstrip("%"))
        except ValueError:
            return None, f"confidence is {data.get('confidence')!r}, not a number"
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 <= confidence <= 100:
        return None, f"confidence is {data.get('confidence')!r}, not a number from 0 to 100"
    return {**data, "correct": correct.strip().lower(), "confidence": confidence}, ""


class HLEJudge(OpenAIJudge):
    """HLE's structured-output judge through the ``openai`` SDK."""

    name = "hle"
    default_model = HLE_MODEL
    #: the whole response (the runner's ``response``); without one, the answer and its confidence
    reads = ("question", "gold", "answer", "confidence", "response")
    sends_temperature = False  # HLE's judge request carries none
    #: HLE's accuracy is over every question, an unjudged one wrong (``harness.statistics.simpleqa_metrics``)
    unjudged_is_wrong = True

    def __init__(self, **settings: Any) -> None:
        """``settings``: those of ``ApiJudge`` (the ``hle`` factory lists them with their defaults)."""
        super().__init__(**{**HLE_SETTINGS, **settings})
        self.prompt_version = f"{PROMPT_VERSION}/unparsed-{self.unparsed}"

    async def _ask_structured(self, prompt: str) -> tuple[str | None, dict[str, int]]:
        return await self._ask(prompt, response_format=RESPONSE_FORMAT)

    #: a typical structured reply with a reasoning model's hidden reasoning, for the cost estimate
    reply_tokens = 600

    @property
    def verdict_settings(self) -> dict[str, Any]:
        return {"max_tokens": self.max_tokens}

    def prompt(self, example: Example, prediction: Prediction, response: str | None = None) -> str:
        """The judge prompt of one item: ``response`` (the whole generation), or the prediction
        where there is none."""
        shown = response.strip() if response and response.strip() else response_text(prediction)
        values = {"question": example.question.strip(), "response": shown,
                  "correct_answer": example.answer.strip()}
        # one pass, so braces in the item's own text are left alone
        return re.sub(r"\{(question|response|correct_answer)\}", lambda m: values[m.group(1)], TEMPLATE)

    def estimate_usage(self, example: Example, prediction: Prediction, response: str | None = None
                       ) -> dict[str, int]:
        return {"prompt_tokens": prompt_tokens(self.prompt(example, prediction, response)),
                "completion_tokens": self.reply_tokens}

    async def grade(self, example: Example, prediction: Prediction, response: str | None = None) -> Judgment:
        """Grade ``response`` (the whole generation), or the prediction where there is none."""
        base = {"example_id": example.id, "judge": self.name, "model": self.model,
                "answer": prediction.answer}
        prompt = self.prompt(example, prediction, response)
        usage: dict[str, int] = {}
        reply: str | None = None
        why = ""
        for _ in range(2):
            reply, used = await self._ask_structured(prompt)
            for key, value in used.items():
                usage[key] = usage.get(key, 0) + int(value or 0)
            if not (reply or "").strip():
                raise EmptyReply("the judge's reply has no text (refused, or cut at its token limit)")
            fields, why = parse_structured(reply)
            if fields is not None:
                grade = "correct" if fields["correct"] == "yes" else "incorrect"
                return Judgment(grade=grade, raw=reply, usage=usage, confidence=fields["confidence"] / 100,
                                **base)
        why = f"structured output does not validate: {why}"
        return unparsed_judgment(self.unparsed, reply, usage, why, base)
