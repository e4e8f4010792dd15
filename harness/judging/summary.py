"""What a judging stage reports: ``JudgingSummary`` (recorded in the manifest) and
``JudgingFailed``, raised when more items than ``max_error_rate`` allows stayed unjudged."""

from __future__ import annotations

from typing import Any

import attrs

from harness.errors import HarnessError
from harness.records import Judgment


class JudgingFailed(HarnessError):
    """More items than ``max_error_rate`` allows could not be judged (``.summary`` says how)."""

    def __init__(self, message: str, summary: JudgingSummary | None = None) -> None:
        super().__init__(message)
        self.summary = summary


@attrs.frozen(kw_only=True)
class JudgingSummary:
    """What one judging stage did. ``judgments`` (one per item, input order) is not in
    ``to_dict()``, which is what a manifest records."""

    judge: str
    model: str
    prompt_version: str
    total: int  # items
    graded: int  # judged by asking the judge in this run
    cached: int  # taken from the persistent cache
    resumed: int  # already in the run folder
    errors: int  # items without a grade (each has an ``error``)
    grades: dict[str, int]  # over all items: correct / incorrect / not_attempted
    requests: int  # calls to ``grade`` in this run, retries included
    retries: int
    rate_limited: int  # 429 replies seen
    timeouts: int
    usage: dict[str, int]  # tokens spent in this run
    cost_usd: float | None  # None when the judge knows no price
    elapsed_s: float
    concurrency: int
    judgments: tuple[Judgment, ...] = attrs.field(default=(), repr=False)

    @property
    def error_rate(self) -> float:
        return self.errors / self.total if self.total else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self, recurse=False, filter=lambda a, _: a.name != "judgments")
        data["error_rate"] = self.error_rate
        return data
