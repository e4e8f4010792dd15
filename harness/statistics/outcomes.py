"""Per-example outcomes: what every report row is computed from, and what ``harness check`` re-reads.

One ``Outcome`` per evaluated example of a row (a model, an extractor and, for post-hoc rows,
a calibrator): its judged grade, its confidence (``None`` when the extractor found none) and
the example's ``group`` and ``subgroup``. The run folder keeps them as
``outcomes/<row key>.jsonl``; ``Counting`` turns them into the arrays the metrics see.

Counting rules (the same for the report and for ``check``, so neither can be gamed by
saying nothing):

- a judge error is no verdict on the model: the example is left out of that row, counted;
- ``not_attempted`` counts as incorrect, or is left out (counted) when the judge's
  ``not_attempted = "exclude"`` (``harness.judging.settings.verdict``, the one place that
  policy is applied); the ``coverage`` criterion sees abstentions either way;
- an example with no confidence (an empty answer, an unparsable ``Confidence:`` line)
  stays in every metric: it is wrong unless judged correct, and its confidence is
  ``missing_confidence`` (default 1.0, Humanity's Last Exam's rule for a missing
  confidence), counted as ``imputed``. Accuracy therefore counts every evaluated example.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from harness.artifacts import read_jsonl, write_jsonl_atomic
from harness.errors import InputError
from harness.judging.settings import verdict
from harness.records import Example, Judgment, Prediction

MISSING_CONFIDENCE = 1.0  # HLE: "confidence ... defaults to 100" when the model gives none


@attrs.frozen(kw_only=True)
class Outcome:
    example_id: str
    grade: str | None  # correct | incorrect | not_attempted; None: the judge failed
    confidence: float | None
    group: str | None = None
    subgroup: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outcome:
        try:
            return cls(example_id=str(data["example_id"]), grade=data["grade"],
                       confidence=None if data["confidence"] is None else float(data["confidence"]),
                       group=data.get("group"), subgroup=data.get("subgroup"))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not an outcome record: {data!r} ({exc})") from None

    def with_confidence(self, confidence: float | None) -> Outcome:
        return attrs.evolve(self, confidence=confidence)


def collect(examples: Sequence[Example], predictions: dict[str, Prediction],
            judgments: dict[str, Judgment]) -> list[Outcome]:
    """One outcome per example, in the examples' order. The confidence is the one the judge
    extracted, when it did (HLE's judge), else the extractor's."""
    out = []
    for example in examples:
        judgment = judgments.get(example.id)
        prediction = predictions[example.id]
        stated = prediction.confidence
        if judgment is not None and judgment.confidence is not None:
            stated = judgment.confidence
        out.append(Outcome(
            example_id=example.id, grade=None if judgment is None else judgment.grade,
            confidence=None if stated is None else float(stated),
            group=example.group, subgroup=example.subgroup,
        ))
    return out


def write(path: Path, outcomes: Iterable[Outcome]) -> None:
    write_jsonl_atomic(path, [o.to_dict() for o in outcomes])


def read(path: Path) -> list[Outcome]:
    if not path.is_file():
        raise InputError(f"{path}: missing (the run folder is incomplete or from an older version)")
    return [Outcome.from_dict(row) for row in read_jsonl(path).rows]


@attrs.frozen
class Counted:
    """The arrays one row's metrics see, and what was left out or imputed, by reason."""

    ids: list[str]
    confidence: np.ndarray  # float64, imputed where missing
    correct: np.ndarray  # bool
    groups: list[str]  # the bootstrap's unit (the example's own id when it has no group)
    subgroups: list[str | None]
    counts: dict[str, int]

    def select(self, ids: Sequence[str]) -> Counted:
        """The same row restricted to ``ids`` (in that order)."""
        index = {i: k for k, i in enumerate(self.ids)}
        take = np.array([index[i] for i in ids], dtype=np.int64)
        return Counted(list(ids), self.confidence[take], self.correct[take],
                       [self.groups[k] for k in take], [self.subgroups[k] for k in take], self.counts)

    def coverage(self) -> float:
        """Share of the judged examples with an attempted answer and a confidence of its own."""
        judged = self.counts["examples"] - self.counts["judge_errors"]
        return self.counts["answered"] / judged if judged else 0.0


@attrs.frozen
class Answered:
    """Who answered what, paired: over the examples both runs had judged (a judge error on
    either side leaves the example out), whether each gave an attempted answer with a
    confidence of its own. The not-attempted policy does not apply: an abstention is what
    ``coverage`` counts, whatever the scored rows do with it."""

    ids: list[str]
    before: np.ndarray  # bool
    after: np.ndarray  # bool
    groups: list[str]  # the bootstrap's unit (the example's own id when it has no group)


def _answered(o: Outcome) -> bool:
    return o.grade != "not_attempted" and o.confidence is not None


def answered_pairs(before: Sequence[Outcome], after: Sequence[Outcome]) -> Answered:
    """The paired answered flags of two rows over the same examples (``Answered``)."""
    judged = {o.example_id: o for o in after if o.grade is not None}
    pairs = [(o, judged[o.example_id]) for o in sorted(before, key=lambda o: o.example_id)
             if o.grade is not None and o.example_id in judged]
    return Answered(ids=[a.example_id for a, _ in pairs],
                    before=np.array([_answered(a) for a, _ in pairs], dtype=bool),
                    after=np.array([_answered(b) for _, b in pairs], dtype=bool),
                    groups=[a.group if a.group is not None else a.example_id for a, _ in pairs])


def count(outcomes: Sequence[Outcome], *, not_attempted: str = "incorrect",
          missing_confidence: float = MISSING_CONFIDENCE) -> Counted:
    """Apply the counting rules of this module to one row's outcomes, in example-id order."""
    ids, conf, hits, groups, subgroups = [], [], [], [], []
    counts = {"examples": len(outcomes), "judge_errors": 0, "not_attempted": 0,
              "not_attempted_excluded": 0, "missing_confidence": 0, "imputed": 0, "answered": 0,
              "correct": 0}
    for o in sorted(outcomes, key=lambda o: o.example_id):
        if o.grade is None:
            counts["judge_errors"] += 1
            continue
        attempted = o.grade != "not_attempted"
        counts["not_attempted"] += not attempted
        counts["answered"] += attempted and o.confidence is not None
        hit = verdict(o.grade, not_attempted)
        if hit is None:
            counts["not_attempted_excluded"] += 1
            continue
        if o.confidence is None:
            counts["missing_confidence"] += 1
            counts["imputed"] += 1
        ids.append(o.example_id)
        conf.append(missing_confidence if o.confidence is None else o.confidence)
        hits.append(hit)
        groups.append(o.group if o.group is not None else o.example_id)
        subgroups.append(o.subgroup)
    counts["correct"] = int(sum(hits))
    counts["scored"] = len(ids)
    return Counted(ids, np.asarray(conf, dtype=np.float64), np.asarray(hits, dtype=bool), groups,
                   subgroups, counts)
