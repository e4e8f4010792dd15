"""The judge runner: ``Prediction -> Judgment`` for a whole stage, around a judge's one
``async grade``.

- **resume** (``harness.judging.resume``): judgments are appended to ``judgments.jsonl``
  one line per item as each completes (crash-safe); a rerun reads them back (a torn last
  line is tolerated) and never asks again for an item already judged by the same judge for
  the same predicted answer. Items that ended with an error are retried. When the run ends
  the file is rewritten atomically with exactly one line per item, in input order.
- **cache**: verdicts of earlier runs (``harness.judging.cache``) are reused unless
  ``use_cache=False``; a judge with ``cacheable = False`` is never cached. The key
  (``harness.judging.inputs.verdict_key``) holds the name the judge was registered under
  (``name``), its model, ``prompt_version`` and ``verdict_settings``, and everything it
  reads of the item (``reads``); resume keeps a judgment only under the same key.
- **responses**: a judge that reads ``response`` (HLE's) is called as
  ``grade(example, prediction, response=TEXT)`` with the whole generation of the item
  (``responses`` by example id; ``None`` where none was given).
- **concurrency**: at most ``settings.concurrency`` requests in flight (an asyncio
  semaphore); an item waiting to retry does not hold a slot.
- **retries** (``harness.judging.retries``): exponential back-off with jitter on rate
  limits (honouring ``Retry-After``, which also pauses every worker), 5xx, timeouts
  (``settings.timeout`` per request) and connection errors, up to ``settings.max_attempts``.
  A credential error (401/403) stops the run at once. Any other failure is final for that item.
- **errors**: an item that still fails is written as a ``Judgment`` with ``grade=None``
  and an ``error`` — never dropped, never graded incorrect — and counted; the run raises
  ``JudgingFailed`` (a ``HarnessError``) only when the error rate exceeds
  ``settings.max_error_rate``, after everything is written.
- **cost**: before the first request to a paid judge, its estimated cost is printed
  (``harness.judging.budget``); with a budget (``--max-judge-cost``, the setting
  ``max_cost``) an item whose estimated cost would pass it is not asked: the stage stops,
  keeps every verdict so far and raises ``JudgeBudgetReached``; a rerun resumes.
- **progress and usage**: a tqdm bar with rate and ETA; token usage (and cost, when the
  judge has ``cost(usage) -> float | None``) summed in the returned ``JudgingSummary``.

Error messages and raw replies are redacted (``harness.judging.redaction``) before they
are written.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import random
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from harness.artifacts import JsonlAppender, write_jsonl_atomic
from harness.errors import HarnessError, InputError
from harness.judging.budget import CostBudget, JudgeBudgetReached, describe, estimate
from harness.judging.inputs import reads, verdict_key
from harness.judging.redaction import redact
from harness.judging.resume import load_judgments, reusable
from harness.judging.retries import MAX_RETRY_AFTER, Failure, backoff, classify
from harness.judging.settings import JudgeSettings
from harness.judging.summary import JudgingFailed, JudgingSummary
from harness.records import GRADES, Example, Judgment, Prediction

USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")


def judge_predictions(
    judge: Any,
    settings: JudgeSettings,
    items: Sequence[tuple[Example, Prediction]],
    out_path: Path,
    *,
    name: str | None = None,
    use_cache: bool = True,
    progress: bool = True,
    responses: Mapping[str, str] | None = None,
    budget: CostBudget | None = None,
) -> JudgingSummary:
    """Judge every ``(example, prediction)`` into ``out_path`` (see the module docstring).

    ``name`` is the name the judge was registered under (``harness run`` passes it); it
    keys the cache and resume, and names the judgments. Without it, the judge's ``name``.
    Synchronous: runs its own event loop (in a worker thread when the caller already has
    one running, e.g. in a notebook). Raises ``JudgingFailed`` when the error rate exceeds
    ``settings.max_error_rate``.
    """
    coroutine_args = (judge, settings, items, Path(out_path))
    kwargs = {"name": name, "use_cache": use_cache, "progress": progress, "responses": responses,
              "budget": budget}
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(ajudge_predictions(*coroutine_args, **kwargs))
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, ajudge_predictions(*coroutine_args, **kwargs)).result()


async def ajudge_predictions(
    judge: Any,
    settings: JudgeSettings,
    items: Sequence[tuple[Example, Prediction]],
    out_path: Path,
    *,
    name: str | None = None,
    use_cache: bool = True,
    progress: bool = True,
    responses: Mapping[str, str] | None = None,
    budget: CostBudget | None = None,
) -> JudgingSummary:
    """The async form of ``judge_predictions``. ``budget``: the run's spending cap, shared
    between its stages; without one, ``settings.max_cost`` (when above 0) caps this stage."""
    if budget is None and settings.max_cost > 0:
        budget = CostBudget(settings.max_cost)
    run = _Run(judge, name or judge.name, settings, items, Path(out_path), use_cache=use_cache,
               progress=progress, responses=responses, budget=budget)
    try:
        summary = await run.execute()
    finally:
        closer = getattr(judge, "aclose", None)
        if closer is not None:
            await closer()
    if summary.error_rate > settings.max_error_rate:
        first = next((j.error for j in summary.judgments if j.error), "")
        raise JudgingFailed(
            f"judge {summary.judge!r}: {summary.errors} of {summary.total} items could not be judged "
            f"({summary.error_rate:.1%} > max_error_rate {settings.max_error_rate:.1%}); "
            f"first error: {first}; rerun to retry them",
            summary,
        )
    return summary


def _is_confidence(value: Any) -> bool:
    if value is None:
        return True
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0


class _Run:
    def __init__(
        self,
        judge: Any,
        name: str,
        settings: JudgeSettings,
        items: Sequence[tuple[Example, Prediction]],
        out_path: Path,
        *,
        use_cache: bool,
        progress: bool,
        responses: Mapping[str, str] | None = None,
        budget: CostBudget | None = None,
    ) -> None:
        self.judge = judge
        self.budget = budget
        self.over_budget = False
        self.name = name  # the registered name: the cache key, resume and the judgments use it
        self.settings = settings
        self.items = list(items)
        self.out_path = out_path
        self.use_cache = use_cache and getattr(judge, "cacheable", True)
        self.progress = progress
        self.final: dict[str, Judgment] = {}
        self.counts: Counter[str] = Counter()
        self.usage: Counter[str] = Counter()
        self.pause_until = 0.0
        self.fatal: Failure | None = None
        self.rng = random.Random()
        ids = [example.id for example, _ in self.items]
        if len(set(ids)) != len(ids):
            dup = next(i for i, c in Counter(ids).items() if c > 1)
            raise InputError(f"judging: example id {dup!r} appears more than once")
        self.responses = dict(responses or {})
        self.reads_response = "response" in reads(judge)
        self.keys = {example.id: verdict_key(self.name, judge, example, prediction,
                                             self.responses.get(example.id))
                     for example, prediction in self.items}

    async def execute(self) -> JudgingSummary:
        began = time.monotonic()
        previous = load_judgments(self.out_path)
        todo: list[tuple[Example, Prediction]] = []
        for example, prediction in self.items:
            old = previous.get(example.id)
            if reusable(old, prediction, judge=self.name, model=self.judge.model, key=self.keys[example.id]):
                assert old is not None
                self.final[example.id] = old
                self.counts["resumed"] += 1
            else:
                todo.append((example, prediction))
        cache = self._open_cache()
        bar = self._bar(initial=self.counts["resumed"])
        appender = JsonlAppender(self.out_path)
        try:
            todo = self._from_cache(cache, todo, appender, bar)
            if todo:
                self._announce_cost(todo)
                await self._ask_all(todo, cache, appender, bar)
        finally:
            appender.close()
            bar.close()
            if cache is not None:
                cache.close()
        if self.fatal is not None:
            raise HarnessError(f"judge {self.name!r}: {self.fatal.reason}")
        if self.over_budget:
            assert self.budget is not None
            raise JudgeBudgetReached(
                f"judge {self.name!r}: --max-judge-cost ${self.budget.limit:.2f} reached "
                f"(${self.budget.spent:.2f} spent by this run); {len(self.final)} of {len(self.items)} items "
                f"judged and kept in {self.out_path}; rerun to resume (with a higher --max-judge-cost to "
                f"judge the rest)")
        ordered = [self.final[example.id] for example, _ in self.items]
        write_jsonl_atomic(self.out_path, ordered)  # one line per item, in input order
        return self._summary(ordered, time.monotonic() - began)

    # -- cache -----------------------------------------------------------------------------

    def _open_cache(self) -> Any:
        if not self.use_cache:
            return None
        from harness.judging.cache import JudgeCache

        return JudgeCache()

    def _key(self, example: Example, prediction: Prediction) -> str:
        return self.keys[example.id]

    def _from_cache(
        self, cache: Any, todo: list[tuple[Example, Prediction]], appender: JsonlAppender, bar: Any
    ) -> list[tuple[Example, Prediction]]:
        if cache is None or not todo:
            return todo
        keys = [self._key(example, prediction) for example, prediction in todo]
        hits = cache.get_many(keys)
        remaining = []
        for (example, prediction), key in zip(todo, keys, strict=True):
            hit = hits.get(key)
            if hit is None or hit["grade"] not in GRADES:
                remaining.append((example, prediction))
                continue
            judgment = Judgment(
                example_id=example.id,
                grade=hit["grade"],
                judge=self.name,
                model=self.judge.model,
                answer=prediction.answer,
                raw=hit["raw"],
                confidence=hit.get("confidence"),
                cached=True,
                input_key=key,
            )
            self._finish(judgment, appender, bar, counter="cached")
        return remaining

    # -- cost ------------------------------------------------------------------------------

    def _announce_cost(self, todo: list[tuple[Example, Prediction]]) -> None:
        """Print the estimated cost of asking about ``todo``; refuse a cap that cannot be kept."""
        found = estimate(self.judge, [(e, p, self.responses.get(e.id)) for e, p in todo])
        if found is not None:
            cap = self.budget.limit if self.budget is not None else 0.0
            print(describe(self.name, self.judge.model, found, cap), file=sys.stderr, flush=True)
        elif self.budget is not None and callable(getattr(self.judge, "cost", None)):
            raise HarnessError(
                f"judge {self.name!r}: --max-judge-cost needs the price of model {self.judge.model!r}, "
                "which is unknown: give it with -p judge.price_input=USD -p judge.price_output=USD "
                "(per million tokens)")

    def _item_cost(self, example: Example, prediction: Prediction) -> float:
        """The estimated cost of asking about one item (0 for a judge that cannot say)."""
        usage_of = getattr(self.judge, "estimate_usage", None)
        if not callable(usage_of):
            return 0.0
        return float(self.judge.cost(usage_of(example, prediction, self.responses.get(example.id))) or 0.0)

    # -- asking ----------------------------------------------------------------------------

    async def _ask_all(
        self, todo: list[tuple[Example, Prediction]], cache: Any, appender: JsonlAppender, bar: Any
    ) -> None:
        semaphore = asyncio.Semaphore(self.settings.concurrency)
        queue: asyncio.Queue[tuple[Example, Prediction]] = asyncio.Queue()
        for item in todo:
            queue.put_nowait(item)
        stop = asyncio.Event()

        async def worker() -> None:
            while not stop.is_set():
                try:
                    example, prediction = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                held = 0.0
                if self.budget is not None:
                    held = self._item_cost(example, prediction)
                    if not self.budget.reserve(held):  # the cap: stop asking, keep what is judged
                        self.over_budget = True
                        stop.set()
                        return
                judgment = await self._ask(example, prediction, semaphore, stop)
                if self.budget is not None:  # never sent: nothing spent; no usage reported: the estimate
                    used = judgment.usage if judgment is not None else None
                    spent = 0.0 if judgment is None else self.judge.cost(used) if used else None
                    self.budget.settle(held, spent)
                if judgment is None:  # a fatal error (or the cap) stopped the run
                    return
                self._finish(judgment, appender, bar, counter="graded" if judgment.error is None else None)
                if cache is not None and judgment.error is None and judgment.grade in GRADES:
                    cache.put(
                        self._key(example, prediction),
                        judge=self.name,
                        model=self.judge.model,
                        prompt_version=self.judge.prompt_version,
                        grade=judgment.grade,
                        raw=judgment.raw,
                        confidence=judgment.confidence,
                    )

        # More workers than slots: an item sleeping before a retry leaves its slot to others.
        workers = min(len(todo), self.settings.concurrency * 2)
        await asyncio.gather(*(worker() for _ in range(workers)))

    async def _ask(
        self, example: Example, prediction: Prediction, semaphore: asyncio.Semaphore, stop: asyncio.Event
    ) -> Judgment | None:
        failure: Failure | None = None
        attempts = 0
        while attempts < self.settings.max_attempts:
            if attempts:
                await asyncio.sleep(backoff(attempts, failure, base=self.settings.backoff_base,
                                            cap=self.settings.backoff_max, rng=self.rng))
                self.counts["retries"] += 1
            attempts += 1
            async with semaphore:
                wait = self.pause_until - time.monotonic()
                if wait > 0:  # a 429's Retry-After pauses every worker
                    await asyncio.sleep(wait)
                if stop.is_set():
                    return None
                self.counts["requests"] += 1
                try:
                    extra = {"response": self.responses.get(example.id)} if self.reads_response else {}
                    judgment = await asyncio.wait_for(
                        self.judge.grade(example, prediction, **extra), timeout=self.settings.timeout
                    )
                except Exception as exc:  # noqa: BLE001 - every failure becomes a judgment
                    failure = classify(exc)
                else:
                    return self._normalise(judgment, example, prediction)
            self._note(failure)
            if failure.kind == "fatal":
                self.fatal = failure
                stop.set()
                return None
            if failure.kind == "final":
                break
        assert failure is not None
        return Judgment(
            example_id=example.id,
            grade=None,
            judge=self.name,
            model=self.judge.model,
            answer=prediction.answer,
            error=f"after {attempts} attempt(s): {failure.reason}",
            input_key=self.keys[example.id],
        )

    def _note(self, failure: Failure) -> None:
        if failure.status == 429:
            self.counts["rate_limited"] += 1
            if failure.retry_after is not None:
                pause = min(failure.retry_after, MAX_RETRY_AFTER)
                self.pause_until = max(self.pause_until, time.monotonic() + pause)
        elif failure.reason.startswith("timeout"):
            self.counts["timeouts"] += 1

    @property
    def _label(self) -> str:
        """How an error names the judge: ``judge 'x' (its distribution)``."""
        from harness.machinery.contract import label

        return label(self.judge, "judge")

    def _normalise(self, judgment: Any, example: Example, prediction: Prediction) -> Judgment:
        if not isinstance(judgment, Judgment):
            return Judgment(
                example_id=example.id, grade=None, judge=self.name, model=self.judge.model,
                answer=prediction.answer, input_key=self.keys[example.id],
                error=f"{self._label}: grade() returned {type(judgment).__name__}, not a Judgment",
            )
        changes: dict[str, Any] = {}
        if judgment.example_id != example.id:
            changes["example_id"] = example.id
        if judgment.answer != prediction.answer:
            changes["answer"] = prediction.answer
        if judgment.judge != self.name:
            changes["judge"] = self.name
        if not judgment.model:
            changes["model"] = self.judge.model
        if judgment.error is None and judgment.grade not in GRADES:
            changes["grade"] = None
            changes["error"] = (f"{self._label}: grade() returned an unknown grade {judgment.grade!r} "
                                f"(grades: {', '.join(GRADES)})")
        if not _is_confidence(judgment.confidence):
            changes.update(grade=None, confidence=None,
                           error=f"{self._label}: grade() returned a confidence {judgment.confidence!r} "
                                 f"outside [0, 1]")
        if judgment.input_key != self.keys[example.id]:
            changes["input_key"] = self.keys[example.id]
        if judgment.raw and redact(judgment.raw) != judgment.raw:
            changes["raw"] = redact(judgment.raw)
        if judgment.error is not None:
            changes["error"] = redact(judgment.error)
            if judgment.grade is not None:
                changes["grade"] = None
        for key in USAGE_KEYS:
            self.usage[key] += int(judgment.usage.get(key, 0) or 0)
        return attrs.evolve(judgment, **changes) if changes else judgment

    # -- bookkeeping -----------------------------------------------------------------------

    def _finish(self, judgment: Judgment, appender: JsonlAppender, bar: Any, *, counter: str | None) -> None:
        appender.write(judgment)
        self.final[judgment.example_id] = judgment
        if counter:
            self.counts[counter] += 1
        if judgment.error is not None:
            self.counts["errors"] += 1
        bar.update(1)
        if self.counts["errors"] or self.counts["retries"]:
            bar.set_postfix(errors=self.counts["errors"], retries=self.counts["retries"], refresh=False)

    def _bar(self, initial: int) -> Any:
        from tqdm.auto import tqdm

        return tqdm(
            total=len(self.items),
            initial=initial,
            desc=f"judge {self.name}",
            unit="item",
            disable=not self.progress,
            file=sys.stderr,
            dynamic_ncols=True,
        )

    def _summary(self, ordered: list[Judgment], elapsed: float) -> JudgingSummary:
        grades = Counter(j.grade for j in ordered if j.grade is not None)
        usage = {key: int(self.usage[key]) for key in USAGE_KEYS}
        if not usage["total_tokens"]:
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        coster = getattr(self.judge, "cost", None)
        cost = coster(usage) if callable(coster) else None
        return JudgingSummary(
            judge=self.name,
            model=self.judge.model,
            prompt_version=self.judge.prompt_version,
            total=len(ordered),
            graded=self.counts["graded"],
            cached=self.counts["cached"],
            resumed=self.counts["resumed"],
            errors=sum(1 for j in ordered if j.grade is None),
            grades={grade: grades.get(grade, 0) for grade in GRADES},
            requests=self.counts["requests"],
            retries=self.counts["retries"],
            rate_limited=self.counts["rate_limited"],
            timeouts=self.counts["timeouts"],
            usage=usage,
            cost_usd=None if cost is None else round(float(cost), 6),
            elapsed_s=round(elapsed, 3),
            concurrency=self.settings.concurrency,
            judgments=tuple(ordered),
        )
