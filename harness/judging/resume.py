"""Resume: the judgments a run folder already holds, and which of them a rerun may keep.

A judgment is kept when it has a grade and no error, and was made by the same judge (its
registered name and its model) for the same predicted answer and the same input key (what
the judge was shown and its verdict settings: ``harness.judging.inputs``); anything else is
asked again.
"""

from __future__ import annotations

from pathlib import Path

from harness.artifacts import read_jsonl
from harness.errors import InputError
from harness.records import GRADES, Judgment, Prediction


def load_judgments(path: Path) -> dict[str, Judgment]:
    """Judgments of a ``judgments.jsonl`` by example id; the last line for an id wins."""
    if not path.exists():
        return {}
    found: dict[str, Judgment] = {}
    for row in read_jsonl(path).rows:
        try:
            judgment = Judgment.from_dict(row)
        except (KeyError, TypeError) as exc:
            raise InputError(f"{path}: not a judgment line ({exc})") from None
        found[judgment.example_id] = judgment
    return found


def reusable(previous: Judgment | None, prediction: Prediction, *, judge: str, model: str,
             key: str | None = None) -> bool:
    """Whether ``previous`` still stands for ``prediction`` under judge ``judge`` (its
    registered name) with model ``model``, given input key ``key`` (when not ``None``)."""
    return (
        previous is not None
        and (key is None or previous.input_key == key)
        and previous.error is None
        and previous.grade in GRADES
        and previous.answer == prediction.answer
        and previous.judge == judge
        and previous.model == model
    )
