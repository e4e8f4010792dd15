"""The ``mock`` judge: deterministic, offline grading for CI and the embedded default run.

Its rule, in order:

1. ``not_attempted`` when the predicted answer is empty;
2. ``correct`` when, once normalised (case, accents, punctuation, the articles a/an/the,
   whitespace, number formats: ``1,000`` = ``1000``, ``3.0`` = ``3``), as it is or stripped
   of one leading hedge ("I think", "probably", "it is", "the answer is", "about"), it is
   *exactly* the gold answer or one of its aliases: the gold answer split on ``|``
   (``"NYC|New York City"``) and the example's ``metadata["aliases"]`` (a string or a list
   of strings). This comes before the refusal and bound rules, so every gold answer grades
   correct against itself, even one that reads like a refusal or a bound ("It's past your
   bedtime", "approximately 20 kilometers");
3. ``not_attempted`` when it is a refusal ("I don't know", "not sure", "cannot answer"), or
   a number given only as an approximation or a bound ("around 100k", "more than 50k")
   (SimpleQA's rule for hedged numbers);
4. ``incorrect`` otherwise — so a negation ("not red, it is blue" for gold "red"), a list
   of candidates ("red or blue") and a partial answer are all incorrect.

With ``replay=FILE`` it first replays verdicts a real judge recorded
(a ``judgments.jsonl``, keyed by example id and predicted answer) so CI can reuse real
verdicts at no cost; an answer not in the file falls back to matching.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from pathlib import Path

from harness.errors import InputError
from harness.records import GRADES, Example, Judgment, Prediction

ARTICLES = frozenset({"a", "an", "the"})
_TOKEN = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?|[^\W_]+")
_REFUSAL = re.compile(
    r"\b(?:i\s+(?:do\s*n[o']?t|dont|cannot|can't|can\s*not)\s+(?:know|say|tell|answer|recall|remember)"
    r"|not\s+(?:sure|certain)|no\s+idea|unsure|unknown|(?:cannot|can't|unable\s+to)\s+"
    r"(?:answer|say|tell|determine|provide)|no\s+answer|n/a)\b",
    re.IGNORECASE,
)


def _number(token: str) -> str:
    digits = token.replace(",", "")
    try:
        value = Decimal(digits)
    except InvalidOperation:
        return token
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def normalize(text: str) -> list[str]:
    """The words of ``text`` as the mock judge compares them."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(c for c in folded if not unicodedata.combining(c)).casefold()
    words = []
    for token in _TOKEN.findall(folded):
        if token[0].isdigit() or (token[0] in "+-" and len(token) > 1):
            token = _number(token)
        if token not in ARTICLES:
            words.append(token)
    return words


_HEDGE = re.compile(
    r"^\s*(?:(?:i\s+think|i\s+believe|i\s+guess|probably|maybe|perhaps)\s*,?\s*)?"
    r"(?:(?:it\s+is|it's|that\s+is|the\s+answer\s+is)\s*:?\s*)?"
    r"(?:(?:about|around|approximately|roughly)\s+)?",
    re.IGNORECASE,
)


_BOUND = re.compile(
    r"\b(?:around|about|approximately|roughly|circa|nearly|almost|more\s+than|less\s+than|fewer\s+than"
    r"|over|under|at\s+least|at\s+most|between)\s+[-+]?\d",
    re.IGNORECASE,
)


def is_refusal(answer: str) -> bool:
    """An empty answer, or one that declines to answer."""
    return not normalize(answer) or bool(_REFUSAL.search(answer))


def aliases(gold: str, metadata: dict | None = None) -> list[str]:
    """Every accepted form of a gold answer: its ``|``-separated parts and ``metadata["aliases"]``."""
    forms = [part for part in gold.split("|") if part.strip()]
    extra = (metadata or {}).get("aliases") or []
    forms += [extra] if isinstance(extra, str) else [str(a) for a in extra]
    return forms


def match_grade(predicted: str, gold: str, metadata: dict | None = None) -> str:
    """``correct``, ``incorrect`` or ``not_attempted`` by the rule of this module."""
    if not normalize(predicted):
        return "not_attempted"
    readings = (normalize(predicted), normalize(_HEDGE.sub("", predicted, count=1)))
    if any(words == normalize(form) for form in aliases(gold, metadata) for words in readings):
        return "correct"
    if is_refusal(predicted) or _BOUND.search(predicted):
        return "not_attempted"
    return "incorrect"


class MockJudge:
    """Normalised exact matching, optionally replaying recorded verdicts first."""

    name = "mock"
    cacheable = False  # grading is instantaneous; the persistent cache would only grow

    def __init__(self, replay: str = "") -> None:
        self.replay_path = replay
        self.model = "normalised-match"
        self.prompt_version = "exact-match-v3"
        self._replay: dict[tuple[str, str], dict] = _load_replay(Path(replay)) if replay else {}
        if replay:
            self.model = "normalised-match+replay"

    def grade_now(self, example: Example, prediction: Prediction) -> Judgment:
        """The verdict, synchronously."""
        recorded = self._replay.get((example.id, prediction.answer.strip()))
        if recorded is not None:
            source = "/".join(x for x in (recorded.get("judge"), recorded.get("model")) if x)
            return Judgment(
                example_id=example.id, grade=recorded["grade"], judge=self.name, model=self.model,
                answer=prediction.answer, raw=f"replay of {source}: {recorded.get('raw') or ''}".strip(),
            )
        grade = match_grade(prediction.answer, example.answer, example.metadata)
        return Judgment(
            example_id=example.id, grade=grade, judge=self.name, model=self.model,
            answer=prediction.answer, raw=grade,
        )

    async def grade(self, example: Example, prediction: Prediction) -> Judgment:
        return self.grade_now(example, prediction)


def _load_replay(path: Path) -> dict[tuple[str, str], dict]:
    from harness.artifacts import read_jsonl

    recorded: dict[tuple[str, str], dict] = {}
    content = read_jsonl(path)
    for number, row in zip(content.line_numbers, content.rows, strict=True):
        if "example_id" not in row or "answer" not in row:
            raise InputError(f"{path}:{number}: a replayed judgment needs example_id and answer")
        if row.get("grade") not in GRADES or row.get("error"):
            continue  # a failed judgment is no verdict
        recorded[(str(row["example_id"]), str(row["answer"]).strip())] = row
    return recorded
