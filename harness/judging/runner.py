"""The judge runner: ``Prediction -> Judgment`` for a whole stage, around a judge's one
``async grade``.

- **resume** (``harness.judging.resume``): judgments are appended to ``judgments.jsonl``
  one line per item as each completes (crash-safe); a rerun reads them back (a torn last
  line is tolerated) and never asks again for an item already judged by the same judge for
  the same predicted answer. Items that ended with an error are retried. When the run ends
  the file is rewritten atomically with exactly one line per item, in input order.
- **cache**: verdicts of earlier runs (``harness.judge_cache``) are reused unless
  ``use_cache=False``; a judge with ``cacheable = False`` is never cached. The key holds the
  name the judge was registered under (``name``), its model and its ``prompt_version``.
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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from harness.artifacts import JsonlAppender, write_jsonl_atomic
from harness.errors import HarnessError, InputError
from harness.judge_settings import JudgeSettings
from harness.judging.redaction import redact
from harness.judging.resume import load_judgments, reusable
from harness.judging.retries import MAX_RETRY_AFTER, Failure, backoff, classify
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
) -> JudgingSummary:
    """Judge every ``(example, prediction)`` into ``out_path`` (see the module docstring).

    ``name`` is the name the judge was registered under (``harness run`` passes it); it
    keys the cache and resume, and names the judgments. Without it, the judge's ``name``.
    Synchronous: runs its own event loop (in a worker thread when the caller already has
    one running, e.g. in a notebook). Raises ``JudgingFailed`` when the error rate exceeds
    ``settings.max_error_rate``.
    """
    coroutine_args = (judge, settings, items, Path(out_path))
    kwargs = {"name": name, "use_cache": use_cache, "progress": progress}
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
) -> JudgingSummary:
    """The async form of ``judge_predictions``."""
    run = _Run(judge, name or judge.name, settings, items, Path(out_path), use_cache=use_cache,
               progress=progress)
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
    ) -> None:
        self.judge = judge
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

    async def execute(self) -> JudgingSummary:
        began = time.monotonic()
        previous = load_judgments(self.out_path)
        todo: list[tuple[Example, Prediction]] = []
        for example, prediction in self.items:
            old = previous.get(example.id)
            if reusable(old, prediction, judge=self.name, model=self.judge.model):
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
                await self._ask_all(todo, cache, appender, bar)
        finally:
            appender.close()
            bar.close()
            if cache is not None:
                cache.close()
        if self.fatal is not None:
            raise HarnessError(f"judge {self.name!r}: {self.fatal.reason}")
        ordered = [self.final[example.id] for example, _ in self.items]
        write_jsonl_atomic(self.out_path, ordered)  # one line per item, in input order
        return self._summary(ordered, time.monotonic() - began)

    # -- cache -----------------------------------------------------------------------------

    def _open_cache(self) -> Any:
        if not self.use_cache:
            return None
        from harness.judge_cache import JudgeCache

        return JudgeCache()

    def _key(self, example: Example, prediction: Prediction) -> str:
        from harness.judge_cache import cache_key

        return cache_key(
            judge=self.name,
            model=self.judge.model,
            prompt_version=self.judge.prompt_version,
            question=example.question,
            gold=example.answer,
            predicted=prediction.answer,
        )

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
            )
            self._finish(judgment, appender, bar, counter="cached")
        return remaining

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
                judgment = await self._ask(example, prediction, semaphore, stop)
                if judgment is None:  # a fatal error stopped the run
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
                    judgment = await asyncio.wait_for(
                        self.judge.grade(example, prediction), timeout=self.settings.timeout
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
        from harness.contract import label

        return label(self.judge, "judge")

    def _normalise(self, judgment: Any, example: Example, prediction: Prediction) -> Judgment:
        if not isinstance(judgment, Judgment):
            return Judgment(
                example_id=example.id, grade=None, judge=self.name, model=self.judge.model,
                answer=prediction.answer,
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
