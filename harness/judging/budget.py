"""What a paid judge will cost, said before it is asked, and the cap on what it may spend.

- ``estimate``: the cost of the items a stage is about to ask (after resume and the cache),
  from the judge's ``estimate_usage(example, prediction, response) -> usage`` (its prompt's
  size, about ``CHARS_PER_TOKEN`` characters a token, and a typical reply) and its
  ``cost(usage)`` (its model's list price, ``plugins/judges/pricing.py``). The runner prints
  it on stderr before the first request, with the bound where every reply runs to the judge's
  ``max_tokens``. A judge without a price (a local server, ``mock``) prints nothing.
- ``CostBudget``: the cap (``--max-judge-cost USD``, i.e. the judge setting ``max_cost``). One
  budget is shared by every judged stage of a run. Before each request the runner reserves
  the item's estimated cost; an item that would take the spend past the cap is not asked:
  the stage stops, every verdict so far is kept (``judgments.jsonl``, the cache), and
  ``JudgeBudgetReached`` says how far it got. A rerun resumes from there with a fresh budget
  (resumed and cached verdicts cost nothing). A cap on a judge without a price is refused
  before anything is asked.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

from harness.errors import HarnessError, ParameterError
from harness.records import Example, Prediction

#: characters per token of English text, the usual rule of thumb for an estimate
CHARS_PER_TOKEN = 4


class JudgeBudgetReached(HarnessError):
    """The run's judge spend reached ``--max-judge-cost``; what was judged is kept."""


def prompt_tokens(*texts: str) -> int:
    """An estimate of the tokens of ``texts`` sent as one request."""
    return math.ceil(sum(len(t) for t in texts) / CHARS_PER_TOKEN)


def estimate(judge: Any, items: Sequence[tuple[Example, Prediction, str | None]]) -> dict[str, Any] | None:
    """``{"items", "usage", "cost", "cost_bound"}`` for asking ``judge`` about ``items`` (example,
    prediction, response), or ``None`` for a judge that cannot estimate or has no price."""
    usage_of = getattr(judge, "estimate_usage", None)
    coster = getattr(judge, "cost", None)
    if not callable(usage_of) or not callable(coster) or not items:
        return None
    usage = {"prompt_tokens": 0, "completion_tokens": 0}
    for example, prediction, response in items:
        one = usage_of(example, prediction, response)
        for key in usage:
            usage[key] += int(one.get(key, 0))
    cost = coster(usage)
    if cost is None:
        return None
    limit = int(getattr(judge, "max_tokens", 0) or 0)
    bound = coster({**usage, "completion_tokens": limit * len(items)}) if limit > 0 else None
    return {"items": len(items), "usage": usage, "cost": float(cost),
            "cost_bound": None if bound is None else max(float(bound), float(cost))}


def describe(name: str, model: str, found: dict[str, Any], cap: float) -> str:
    """The line printed before a paid judge runs."""
    usage = found["usage"]
    line = (f"judge {name!r} ({model}): asking about {found['items']:,} item(s), estimated cost "
            f"${found['cost']:.2f} (~{usage['prompt_tokens']:,} prompt and ~{usage['completion_tokens']:,} "
            f"reply tokens)")
    if found["cost_bound"] is not None:
        line += f", at most ${found['cost_bound']:.2f} if every reply ran to its token limit"
    if cap > 0:
        line += f"; --max-judge-cost ${cap:.2f}"
    return line


class CostBudget:
    """The USD a run's judge may still spend: ``reserve`` before a request, ``settle`` after."""

    def __init__(self, limit: float) -> None:
        if not limit > 0:
            raise ParameterError(f"--max-judge-cost must be above 0, got {limit}")
        self.limit = float(limit)
        self.spent = 0.0
        self.reserved = 0.0
        self._lock = threading.Lock()

    def reserve(self, amount: float) -> bool:
        """Hold ``amount`` for one request; ``False`` when it would pass the cap."""
        with self._lock:
            if self.spent + self.reserved + amount > self.limit:
                return False
            self.reserved += amount
            return True

    def settle(self, reserved: float, spent: float | None) -> None:
        """Release a reservation and count what the request really cost (``None``: the estimate)."""
        with self._lock:
            self.reserved = max(0.0, self.reserved - reserved)
            self.spent += reserved if spent is None else spent
