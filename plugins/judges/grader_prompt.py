"""The grader prompt of the API judges (``openai``, ``gemini``) and the parser of its reply.

Written for this project after SimpleQA's grading rules: a predicted answer is
*correct* when it contains the gold answer's key fact without contradicting it,
*incorrect* when anything in it contradicts the gold answer (hedged guesses included),
and *not attempted* when it contradicts nothing but leaves the key fact out. The grader
replies with one letter (A, B or C). ``PROMPT_VERSION`` is part of every cache key: bump
it whenever the template or the parser changes meaning.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from harness.records import Example, Judgment, Prediction

PROMPT_VERSION = "simpleqa-abc-v1"
LETTERS = {"A": "correct", "B": "incorrect", "C": "not_attempted"}

TEMPLATE = """\
You are grading an answer to a factual question. Compare the PREDICTED ANSWER with the \
GOLD TARGET and choose one grade.

A) CORRECT: the predicted answer contains the key fact of the gold target and nothing in \
it contradicts the gold target.
- Wording, capitalisation, punctuation, word order and small spelling mistakes do not matter.
- A hedge ("I think", "probably") is fine if the one answer it commits to is the gold target.
- Leaving out information the question does not ask for is fine (a surname alone is correct \
when it is unambiguous in context).
- A number is correct when it matches the gold target to the gold target's last significant \
figure (gold "120,000": "about 118,000" or "120k" are correct; "100,000" is incorrect).

B) INCORRECT: anything in the predicted answer contradicts the gold target.
- A different fact, or several candidate answers of which one is wrong ("Paris or Lyon"), is \
incorrect, even when hedged.
- Contradicting itself is incorrect.

C) NOT_ATTEMPTED: the predicted answer contradicts nothing in the gold target, but does not \
give its key fact.
- "I don't know", a refusal, an empty answer, or an answer that only restates the question.

Examples (gold target "Barack Obama and Michelle Obama had two daughters, Malia and Sasha"):
- "Malia and Sasha" -> A; "I believe it's Malia and Sasha" -> A
- "Malia, Sasha and Susan" -> B; "I think it's Malia and Jackie" -> B
- "I don't know" -> C; "Barack Obama has two children" -> C

QUESTION: {question}
GOLD TARGET: {gold}
PREDICTED ANSWER: {predicted}

Reply with a single letter: A, B or C. No explanation."""


def build_prompt(question: str, gold: str, predicted: str) -> str:
    """The grader prompt for one item (a single user message)."""
    return TEMPLATE.format(question=question.strip(), gold=gold.strip(), predicted=predicted.strip())


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


AskFn = Callable[[str], Awaitable[tuple[str | None, dict[str, int]]]]


async def grade_by_prompt(judge: Any, ask: AskFn, example: Example, prediction: Prediction) -> Judgment:
    """Grade one item with ``ask(prompt) -> (reply text, usage)``, the API call of a judge.

    An empty predicted answer is ``not_attempted`` without asking. An unparseable reply is
    asked once more; a second one is a judgment with an ``error`` and the raw reply.
    Exceptions of ``ask`` (HTTP errors, timeouts) propagate to the runner, which retries.
    """
    base = {"example_id": example.id, "judge": judge.name, "model": judge.model, "answer": prediction.answer}
    if not prediction.answer.strip():
        return Judgment(grade="not_attempted", raw="(empty answer: not asked)", **base)
    prompt = build_prompt(example.question, example.answer, prediction.answer)
    usage: dict[str, int] = {}
    reply: str | None = None
    for _ in range(2):
        reply, used = await ask(prompt)
        for key, value in used.items():
            usage[key] = usage.get(key, 0) + int(value or 0)
        grade = parse_grade(reply)
        if grade is not None:
            return Judgment(grade=grade, raw=reply, usage=usage, **base)
    return Judgment(
        grade=None, raw=reply, usage=usage, error="unparseable grader reply (asked twice)", **base
    )
