"""The judge a trainer may grade with while it trains (reinforcement learning from the judge).

``harness run`` hands a trainer a ``TrainingJudge`` when its ``train`` accepts a keyword
``judge`` (``judge_keyword``); no other trainer sees one, and the core names no trainer. Each
``grade`` call goes through the runner (``harness.judging.runner``), as a judging stage does:
the persistent cache (a repeated answer is not asked again; ``--no-cache`` switches it off),
concurrency, retries with back-off, redaction. The verdicts follow the run's ``not_attempted``
policy (``harness.judging.settings.verdict``); an item the judge could not grade is ``None``.

When more items of one call than the judge's ``max_error_rate`` stay unjudged after the retries
(an unreachable judge), or the judge refuses the credentials, ``grade`` raises
``TrainingJudgeError``: one line, exit status 2. The run's finished stages stay in the run
folder, and the killed training resumes from its last checkpoint on the next run.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

from harness.errors import HarnessError
from harness.judging.settings import verdict
from harness.records import Example, Judgment, Prediction

#: ``make_judge(name) -> (judge, runner settings)``: how the core builds a registered judge
JudgeFactory = Callable[[str], tuple[Any, Any]]


class TrainingJudgeError(HarnessError):
    """The judge failed while a trainer graded with it (after the runner's retries)."""


class TrainingJudge:
    """Grades batches of ``(Example, Prediction)`` through the judge runner, for a trainer.

    ``folder`` receives the runner's file of the last call's judgments (one per process:
    ``batch-<process>.jsonl``). ``stats`` sums what every call did: ``calls``, ``items``,
    ``asked`` (graded by the judge), ``cached``, ``errors`` and ``seconds`` spent grading.
    """

    def __init__(
        self,
        judge: Any,
        settings: Any,
        *,
        name: str,
        folder: Path,
        use_cache: bool = True,
        make_judge: JudgeFactory | None = None,
        budget: Any = None,
    ) -> None:
        """``budget``: the run's ``CostBudget`` (``--max-judge-cost``), shared with its other stages."""
        self.judge, self.settings, self.name = judge, settings, name
        self.budget = budget
        self.folder, self.use_cache = Path(folder), use_cache
        self.process = os.environ.get("RANK", "0")  # each process of a launch grades its own answers
        self.make_judge = make_judge
        self.stats: dict[str, float] = dict.fromkeys(("calls", "items", "asked", "cached", "errors"), 0)
        self.stats["seconds"] = 0.0

    def named(self, name: str) -> TrainingJudge:
        """The same grading with another registered judge (the run's configuration builds it);
        this one when ``name`` is empty or its own."""
        if not name or name == self.name:
            return self
        if self.make_judge is None:
            raise HarnessError(f"judge {name!r}: no way to build it here (only {self.name!r} is available)")
        judge, settings = self.make_judge(name)
        return TrainingJudge(judge, settings, name=name, folder=self.folder, use_cache=self.use_cache,
                             make_judge=self.make_judge, budget=self.budget)

    def grade(self, items: Sequence[tuple[Example, Prediction]]) -> list[bool | None]:
        """The verdict on each item, in order: ``True`` correct, ``False`` incorrect (and not
        attempted, unless the policy excludes it: ``None``), ``None`` where the judge failed.
        The same example may appear several times (several answers to one question)."""
        policy = self.settings.not_attempted
        return [verdict(j.grade, policy) for j in self.judgments(items)]

    def judgments(self, items: Sequence[tuple[Example, Prediction]]) -> list[Judgment]:
        """The judge's ``Judgment`` of each item, in order (their example ids as given)."""
        from harness.judging.runner import judge_predictions

        if not items:
            return []
        # the runner wants one item per id: number the answers, the cache keys on their text
        numbered = [(attrs.evolve(example, id=f"{example.id}#{k}"),
                     attrs.evolve(prediction, example_id=f"{example.id}#{k}"))
                    for k, (example, prediction) in enumerate(items)]
        path = self.folder / f"batch-{self.process}.jsonl"
        self.folder.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)  # a batch never resumes another's: the cache serves repeats
        began = time.monotonic()
        try:
            summary = judge_predictions(self.judge, self.settings, numbered, path, name=self.name,
                                        use_cache=self.use_cache, progress=False, budget=self.budget)
        except HarnessError as exc:  # too many items unjudged (JudgingFailed), refused credentials
            raise TrainingJudgeError(f"during training: {exc}") from None
        finally:
            self.stats["seconds"] += time.monotonic() - began
        for key, value in (("calls", 1), ("items", len(items)), ("asked", summary.graded),
                           ("cached", summary.cached), ("errors", summary.errors)):
            self.stats[key] += value
        return [attrs.evolve(j, example_id=example.id) for j, (example, _) in
                zip(summary.judgments, items, strict=True)]


def judge_keyword(train: Callable[..., Any], make: Callable[[], TrainingJudge]) -> dict[str, Any]:
    """``{"judge": make()}`` when ``train`` takes a ``judge`` keyword, else ``{}``: only a trainer
    that asks for a judge gets one."""
    try:
        parameters = inspect.signature(train).parameters
    except (TypeError, ValueError):
        return {}
    return {"judge": make()} if "judge" in parameters else {}
