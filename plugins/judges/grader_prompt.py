"""The grader prompt of the API judges (``openai``, ``gemini``), the parser of its reply, and
what becomes of a reply that states no grade.

The built-in template states SimpleQA's grading rules (openai/simple-evals) in this
project's own words: a predicted answer is *correct* when it gives the gold target's
answer in full and contradicts nothing; *incorrect* when it contradicts the gold target or
commits to only part of it; *not attempted* when it gives less than the whole answer and
contradicts nothing (a refusal, or a partial answer that says it does not know the rest).
Hedging, numbers to the last significant figure, a bare number in the question's unit, a
first name whose surname can be presumed, a unit the question implies, a gold target that
says more than the question asks (any one identifying answer is enough) each have their
rule and an example, in the project's own words. The grader replies with one letter.

``load_template(path)`` reads a user's template instead (``-p judge.template=FILE``): it
must hold each of ``{question}``, ``{target}`` and ``{predicted_answer}`` and no other
``{name}``; its SHA-256 goes into ``prompt_version`` and so into the cache key and the
manifest. ``prompt_version`` also names the unparsed policy: bump ``PROMPT_VERSION``
whenever the built-in template or the parser changes meaning.

A reply that states no grade is asked once more; if the second states none either, the
``unparsed`` policy decides: ``not_attempted`` (SimpleQA's rule, the default) or
``error`` (a judgment without a grade, counted as a judge error). A reply with no text at
all (a safety block, a reply cut at its token limit) is no grade: ``EmptyReply``, which the
runner retries and, when it persists, counts as a judge error, never cached.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from harness.errors import ParameterError
from harness.judging.retries import EmptyReply
from harness.records import Example, Judgment, Prediction

PROMPT_VERSION = "simpleqa-abc-v3"
LETTERS = {"A": "correct", "B": "incorrect", "C": "not_attempted"}
PLACEHOLDERS = ("question", "target", "predicted_answer")
UNPARSED_POLICIES = ("not_attempted", "error")
#: the grader configuration of SimpleQA's reference code
SYSTEM_MESSAGE = "You are a helpful assistant."
TEMPERATURE = 0.5
MAX_TOKENS = 2048

TEMPLATE = """\
Grade a predicted answer to a factual question against its gold target. Choose one of \
three grades.

A) CORRECT: the predicted answer gives the whole answer of the gold target and nothing in \
it contradicts the gold target.
- Only the meaning matters, not the wording: capitalisation, punctuation, grammar, word \
order and small spelling mistakes of a name do not matter (gold "Hyung Won Chung": \
"Hyungwon Chung" is correct).
- Extra information is fine as long as it does not contradict the gold target.
- Hedging or guessing is fine when the predicted answer still gives the whole gold target \
and states nothing that contradicts it ("most people would say Malia and Sasha, but I'm not \
sure and would have to double check" is correct for gold "Malia Obama and Sasha Obama").
- A number must match the gold target to the gold target's last significant figure (gold \
"120k": "120k", "124k" and "115k" are correct; "113k" and "100k" are incorrect). When the \
question names the unit, a bare number is read in it (question "How tall is ... in metres?", \
gold "1.73 m": "1.75" is correct).
- When the question names part of the answer, leaving that part out is fine (question \
"Which city in Texas ...?", gold "Houston, Texas": "Houston" is correct; gold "Outstanding \
Paper Award" for "which award ...?": "Outstanding Paper" is correct).
- A unit the question clearly implies may be left out (question "How many metres tall is \
...?", gold "120 metres": "120" is correct).
- A person's first name alone is correct when their surname can be presumed from the \
question (gold "Malia Obama and Sasha Obama": "Malia and Sasha" is correct).
- When the gold target says more than the question asks, the predicted answer needs only \
what the question asks, and any one answer that identifies the gold target is enough \
(question "In which episode ...?", gold "Season 7, Episode 20: White Wedding": "Season 7, \
Episode 20" and "White Wedding" are both correct).

B) INCORRECT: a statement in the predicted answer contradicts the gold target, or the \
predicted answer commits to only part of what the gold target requires.
- A hedged answer that commits to a wrong answer is incorrect ("I think it is Lyon", "it \
is possible that ...", "although I'm not sure, I think ...").
- Several candidate answers of which any is wrong are incorrect ("Paris or Lyon"), even \
when one of them is right.
- An answer that contradicts itself is incorrect.
- An admission of not knowing does not excuse a wrong statement ("While I don't know their \
exact names, Barack Obama has three children" is incorrect for gold "Malia Obama and Sasha \
Obama").
- A partial answer given as the whole answer is incorrect (gold "Malia and Sasha": "Malia" \
is incorrect).

C) NOT_ATTEMPTED: the predicted answer does not give the whole gold target, and nothing in \
it contradicts the gold target.
- "I don't know", a refusal, an empty answer, an answer that only restates the question, \
or one that asks for more context.
- A partial answer that says it does not know the rest ("I know one of them is Malia, but \
I'm not sure about the other one") is not attempted.
- A number given only as a range or a bound that neither confirms nor contradicts the gold \
target's figure (gold "120k": "around 100k", "more than 50k") is not attempted.

Examples (question "What are the names of Barack Obama's children?", gold target "Malia \
Obama and Sasha Obama"):
- "Malia and Sasha" -> A; "I believe it's sasha and malia" -> A
- "Malia" -> B; "Malia, Sasha and Susan" -> B; "I think it's Malia and Jackie" -> B
- "I don't know" -> C; "Barack Obama has two children" -> C; "I need more context" -> C
- "One of them is Malia, but I'm not sure about the other one" -> C

QUESTION: {question}
GOLD TARGET: {target}
PREDICTED ANSWER: {predicted_answer}

Reply with a single letter: A, B or C. No explanation."""

_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def check_template(text: str, source: str) -> str:
    """``text`` if it holds each placeholder exactly by name and no unknown one; else a
    ``ParameterError`` naming ``source`` and what is missing or unknown."""
    found = set(_FIELD.findall(text))
    missing = [p for p in PLACEHOLDERS if p not in found]
    unknown = sorted(found - set(PLACEHOLDERS))
    if missing or unknown:
        parts = ([f"lacks {', '.join('{' + m + '}' for m in missing)}"] if missing else []) + (
            [f"has unknown {', '.join('{' + u + '}' for u in unknown)}"] if unknown else [])
        raise ParameterError(f"judge template {source}: {'; '.join(parts)} "
                             f"(a template uses {{question}}, {{target}} and {{predicted_answer}})")
    return text


def load_template(path: str) -> tuple[str, str]:
    """``(template, prompt_version)`` for ``path`` ("" is the built-in template)."""
    if not path:
        return TEMPLATE, PROMPT_VERSION
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ParameterError(f"judge template {path}: cannot be read ({type(exc).__name__})") from None
    check_template(text, path)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return text, f"template-sha256-{digest}"


def build_prompt(question: str, gold: str, predicted: str, template: str = TEMPLATE) -> str:
    """The grader prompt for one item (a single user message). The placeholders are
    replaced in one pass, so braces in the item's own text are left alone."""
    values = {"question": question.strip(), "target": gold.strip(), "predicted_answer": predicted.strip()}
    return _FIELD.sub(lambda m: values.get(m.group(1), m.group(0)), template)


_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL | re.IGNORECASE)
_DECOR = re.compile(r"[*_`\"'#>\[\]]")
_WORD_GRADES = {"CORRECT": "correct", "INCORRECT": "incorrect", "NOTATTEMPTED": "not_attempted"}
_LETTER_ALONE = re.compile(r"^\(?([ABC])\)?[.:)!]?$")
_LETTER_LABEL = re.compile(
    r"\b(?:grade|answer|verdict|final answer|final grade|choice|option)\s*(?:is)?\s*[:=\-]?\s*\(?([ABC])\)?"
    r"(?=$|[\s.,:;)!\-])",
    re.IGNORECASE,
)
_LETTER_LEAD = re.compile(r"^\(?([ABC])\)?(?=$|[.:)\-,;]|\s+[^a-z\s])")
_WORDS = re.compile(r"\b(NOT[_ ]?ATTEMPTED|INCORRECT|CORRECT)\b")  # "_" may be stripped as markdown


def parse_grade(text: str | None) -> str | None:
    """The grade a grader's reply states, or ``None`` when it states none unambiguously.

    Accepted, line by line (the first decisive line wins): a lone letter (``B``, ``(B)``,
    ``**B**``), a labelled letter (``Grade: B``), a leading letter (``B) INCORRECT``), or
    exactly one of the upper-case words CORRECT / INCORRECT / NOT_ATTEMPTED. A reasoning
    model's ``<think>`` block is ignored.
    """
    if not text:
        return None
    body = _THINK.sub("", text)
    for line in body.splitlines():
        line = _DECOR.sub("", line).strip()
        if not line:
            continue
        for pattern in (_LETTER_ALONE, _LETTER_LABEL, _LETTER_LEAD):
            match = pattern.search(line)
            if match:
                return LETTERS[match.group(1)]
        words = {w.replace(" ", "").replace("_", "") for w in _WORDS.findall(line)}
        if len(words) == 1:
            return _WORD_GRADES[words.pop()]
        if len(words) > 1:
            return None  # "CORRECT? No, INCORRECT": ambiguous
    return None


def check_unparsed(policy: str) -> str:
    if policy not in UNPARSED_POLICIES:
        raise ParameterError(f"judge unparsed must be one of {', '.join(UNPARSED_POLICIES)}, got {policy!r}")
    return policy


def unparsed_judgment(policy: str, reply: str | None, usage: dict[str, int], what: str,
                      base: dict[str, Any]) -> Judgment:
    """The judgment of an item whose grader replied twice without a usable grade."""
    if policy == "not_attempted":
        return Judgment(grade="not_attempted", raw=reply, usage=usage, **base)
    return Judgment(grade=None, raw=reply, usage=usage, error=f"{what} (asked twice)", **base)


AskFn = Callable[[str], Awaitable[tuple[str | None, dict[str, int]]]]


async def grade_by_prompt(judge: Any, ask: AskFn, example: Example, prediction: Prediction) -> Judgment:
    """Grade one item with ``ask(prompt) -> (reply text, usage)``, the API call of a judge.

    An empty predicted answer is ``not_attempted`` without asking. An unparseable reply is
    asked once more; a second one is judged by ``judge.unparsed``. Exceptions of ``ask``
    (HTTP errors, timeouts) propagate to the runner, which retries.
    """
    base = {"example_id": example.id, "judge": judge.name, "model": judge.model, "answer": prediction.answer}
    if not prediction.answer.strip():
        return Judgment(grade="not_attempted", raw="(empty answer: not asked)", **base)
    prompt = build_prompt(example.question, example.answer, prediction.answer, judge.template)
    usage: dict[str, int] = {}
    reply: str | None = None
    for _ in range(2):
        reply, used = await ask(prompt)
        for key, value in used.items():
            usage[key] = usage.get(key, 0) + int(value or 0)
        if not (reply or "").strip():
            raise EmptyReply("the grader's reply has no text (blocked, or cut at its token limit)")
        grade = parse_grade(reply)
        if grade is not None:
            return Judgment(grade=grade, raw=reply, usage=usage, **base)
    return unparsed_judgment(judge.unparsed, reply, usage, "unparseable grader reply", base)
