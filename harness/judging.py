"""The judge runner: what every judge gets for free, around its one ``async grade``.

``Prediction -> Judgment`` for a whole stage. A judge plugin implements only
``async grade(example, prediction) -> Judgment``; this module runs it over many items:

- **resume**: judgments are appended to ``judgments.jsonl`` one line per item as each
  completes (crash-safe); a rerun reads them back (a torn last line is tolerated) and
  never asks again for an item already judged by the same judge for the same predicted
  answer. Items that ended with an error are retried. When the run ends the file is
  rewritten atomically with exactly one line per item, in input order.
- **cache**: verdicts of earlier runs (``harness.judge_cache``) are reused unless
  ``use_cache=False``; a judge with ``cacheable = False`` is never cached.
- **concurrency**: at most ``settings.concurrency`` requests in flight (an asyncio
  semaphore); an item waiting to retry does not hold a slot.
- **retries**: exponential back-off with jitter on rate limits (honouring
  ``Retry-After``, which also pauses every worker), 5xx, timeouts (``settings.timeout``
  per request) and connection errors, up to ``settings.max_attempts``. A credential
  error (401/403) stops the run at once. Any other failure is final for that item.
- **errors**: an item that still fails is written as a ``Judgment`` with ``grade=None``
  and an ``error`` — never dropped, never graded incorrect — and counted; the run raises
  ``JudgingFailed`` (a ``HarnessError``) only when the error rate exceeds
  ``settings.max_error_rate``, after everything is written.
- **progress and usage**: a tqdm bar with rate and ETA; token usage (and cost, when the
  judge has ``cost(usage) -> float | None``) summed in the returned ``JudgingSummary``.

Secrets never reach a file: error messages are redacted of every environment value that
looks like a credential before they are written.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from harness.artifacts import JsonlAppender, read_jsonl, write_jsonl_atomic
from harness.errors import HarnessError, InputError
from harness.judge_settings import JudgeSettings
from harness.records import GRADES, Example, Judgment, Prediction

USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")
FATAL_STATUSES = (401, 403)
MAX_RETRY_AFTER = 600.0  # seconds; a longer Retry-After (a spent daily quota) is cut to this


class JudgingFailed(HarnessError):
    """More items than ``max_error_rate`` allows could not be judged (``.summary`` says how)."""

    def __init__(self, message: str, summary: JudgingSummary | None = None) -> None:
        super().__init__(message)
        self.summary = summary


# -- summary ---------------------------------------------------------------------------------


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


def correct_flags(judgments: Sequence[Judgment | None], policy: str = "incorrect") -> tuple[Any, Any]:
    """``(included, correct)`` boolean arrays for judgments aligned with the caller's items.

    A missing judgment or one without a grade (an error) is excluded. ``not_attempted``
    counts as incorrect under policy ``"incorrect"`` (HLE's choice, the default) and is
    excluded under ``"exclude"``. ``correct`` is False wherever ``included`` is False.
    """
    import numpy as np

    from harness.judge_settings import NOT_ATTEMPTED_POLICIES

    if policy not in NOT_ATTEMPTED_POLICIES:
        raise HarnessError(f"not_attempted policy must be one of {', '.join(NOT_ATTEMPTED_POLICIES)}")
    included = np.zeros(len(judgments), dtype=bool)
    correct = np.zeros(len(judgments), dtype=bool)
    for i, judgment in enumerate(judgments):
        grade = judgment.grade if judgment is not None else None
        if grade is None or (grade == "not_attempted" and policy == "exclude"):
            continue
        included[i] = True
        correct[i] = grade == "correct"
    return included, correct


# -- secrets ---------------------------------------------------------------------------------

_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL", re.IGNORECASE)
_SECRET_SHAPES = re.compile(r"\b(?:sk-[A-Za-z0-9_\-*]{8,}|AIza[0-9A-Za-z_\-]{20,})")


def redact(text: str) -> str:
    """``text`` without any credential-looking environment value or API-key-shaped string."""
    for name, value in os.environ.items():
        if len(value) >= 8 and _SECRET_NAME.search(name) and value in text:
            text = text.replace(value, "[redacted]")
    return _SECRET_SHAPES.sub("[redacted]", text)


# -- failure classification ------------------------------------------------------------------


@attrs.frozen
class Failure:
    """How the runner treats one exception from ``grade``."""

    kind: str  # "retry", "fatal" (stop the run) or "final" (this item fails at once)
    reason: str
    status: int | None = None
    retry_after: float | None = None


def classify(exc: BaseException) -> Failure:
    """Classify an exception of any SDK: by HTTP status (``status_code`` / ``code``), by
    timeout or connection error (builtin types, or class names), and by the openai and
    google-genai exception classes when those SDKs are loaded."""
    message = _describe(exc)
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return Failure("retry", f"timeout: {message}")
    status = _status_of(exc)
    if status is not None:
        if status == 429:
            return Failure("retry", f"rate limited (HTTP 429): {message}", 429, _retry_after(exc))
        if status in (408, 409) or status >= 500:
            return Failure("retry", f"HTTP {status}: {message}", status, _retry_after(exc))
        if status in FATAL_STATUSES:
            return Failure("fatal", f"HTTP {status} (credentials refused): {message}", status)
        return Failure("final", f"HTTP {status}: {message}", status)
    if _is_transient_class(exc):
        return Failure("retry", f"connection error: {message}")
    return Failure("final", message)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return redact(f"{type(exc).__name__}: {first}"[:500])


def _status_of(exc: BaseException) -> int | None:
    for attr in ("status_code", "code", "status"):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value < 600:
            return value
    response = getattr(exc, "response", None)
    value = getattr(response, "status_code", None) or getattr(response, "status", None)
    if isinstance(value, int) and 100 <= value < 600:
        return value
    return None


def _retry_after(exc: BaseException) -> float | None:
    explicit = getattr(exc, "retry_after", None)
    if isinstance(explicit, (int, float)) and not isinstance(explicit, bool):
        return float(explicit)
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None:
        return None
    try:
        millis = headers.get("retry-after-ms")
        seconds = headers.get("retry-after")
    except Exception:  # noqa: BLE001 - any header mapping will do
        return None
    try:
        if millis is not None:
            return float(millis) / 1000.0
        if seconds is not None:
            return float(seconds)
    except ValueError:
        return _http_date_delay(seconds)
    return None


def _http_date_delay(value: str | None) -> float | None:
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None
    return None if when is None else max(0.0, when.timestamp() - time.time())


def _is_transient_class(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionError):
        return True
    transient: list[type] = []
    if "openai" in sys.modules:
        import openai

        transient += [openai.APIConnectionError, openai.APITimeoutError]
    for http_module in ("httpx", "httpx2"):  # the openai / google-genai transports
        if http_module in sys.modules:
            transient.append(sys.modules[http_module].TransportError)
    if "aiohttp" in sys.modules:
        import aiohttp

        transient += [aiohttp.ClientConnectionError, aiohttp.ServerTimeoutError]
    if transient and isinstance(exc, tuple(transient)):
        return True
    names = [cls.__name__ for cls in type(exc).__mro__]
    return any("Connect" in name or "Timeout" in name for name in names)


# -- resume ----------------------------------------------------------------------------------


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


def _reusable(previous: Judgment | None, judge: Any, prediction: Prediction) -> bool:
    return (
        previous is not None
        and previous.error is None
        and previous.grade in GRADES
        and previous.answer == prediction.answer
        and previous.judge == judge.name
        and previous.model == judge.model
    )


# -- the runner ------------------------------------------------------------------------------


def judge_predictions(
    judge: Any,
    settings: JudgeSettings,
    items: Sequence[tuple[Example, Prediction]],
    out_path: Path,
    *,
    use_cache: bool = True,
    progress: bool = True,
) -> JudgingSummary:
    """Judge every ``(example, prediction)`` into ``out_path`` (see the module docstring).

    Synchronous: runs its own event loop (in a worker thread when the caller already has
    one running, e.g. in a notebook). Raises ``JudgingFailed`` when the error rate exceeds
    ``settings.max_error_rate``.
    """
    coroutine_args = (judge, settings, items, Path(out_path))
    kwargs = {"use_cache": use_cache, "progress": progress}
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
    use_cache: bool = True,
    progress: bool = True,
) -> JudgingSummary:
    """The async form of ``judge_predictions``."""
    run = _Run(judge, settings, items, Path(out_path), use_cache=use_cache, progress=progress)
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


class _Run:
    def __init__(
        self,
        judge: Any,
        settings: JudgeSettings,
        items: Sequence[tuple[Example, Prediction]],
        out_path: Path,
        *,
        use_cache: bool,
        progress: bool,
    ) -> None:
        self.judge = judge
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
            if _reusable(old, self.judge, prediction):
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
            raise HarnessError(f"judge {self.judge.name!r}: {self.fatal.reason}")
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
            judge=self.judge.name,
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
                judge=self.judge.name,
                model=self.judge.model,
                answer=prediction.answer,
                raw=hit["raw"],
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
                        judge=self.judge.name,
                        model=self.judge.model,
                        prompt_version=self.judge.prompt_version,
                        grade=judgment.grade,
                        raw=judgment.raw,
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
                await asyncio.sleep(self._delay(attempts, failure))
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
            judge=self.judge.name,
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

    def _delay(self, retry: int, failure: Failure | None) -> float:
        """Exponential back-off with jitter (at most ``backoff_max``), and at least the
        server's ``Retry-After`` (which ``backoff_max`` does not cap; ``MAX_RETRY_AFTER`` does)."""
        base = min(self.settings.backoff_max, self.settings.backoff_base * 2 ** (retry - 1))
        delay = base / 2 + self.rng.uniform(0, base / 2)
        if failure is not None and failure.retry_after is not None:
            wanted = min(failure.retry_after, MAX_RETRY_AFTER)
            delay = max(delay, wanted * (1 + self.rng.uniform(0, 0.2)))
        return delay

    def _normalise(self, judgment: Any, example: Example, prediction: Prediction) -> Judgment:
        if not isinstance(judgment, Judgment):
            return Judgment(
                example_id=example.id, grade=None, judge=self.judge.name, model=self.judge.model,
                answer=prediction.answer, error=f"grade() returned {type(judgment).__name__}, not a Judgment",
            )
        changes: dict[str, Any] = {}
        if judgment.example_id != example.id:
            changes["example_id"] = example.id
        if judgment.answer != prediction.answer:
            changes["answer"] = prediction.answer
        if not judgment.judge:
            changes["judge"] = self.judge.name
        if not judgment.model:
            changes["model"] = self.judge.model
        if judgment.error is None and judgment.grade not in GRADES:
            changes["grade"] = None
            changes["error"] = f"grade() returned an unknown grade {judgment.grade!r}"
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
            desc=f"judge {self.judge.name}",
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
            judge=self.judge.name,
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
