"""Retries: how the runner treats an exception of a judge's ``grade``, and how long it waits.

``classify`` sorts an exception of any SDK into ``retry`` (HTTP 429 with its
``Retry-After``, 408/409/5xx, timeouts, connection errors, and ``EmptyReply``: a grader
reply with no text, such as a safety block or a reply cut at its token limit), ``fatal`` (401/403: refused
credentials stop the run) or ``final`` (this item fails at once). ``backoff`` is the wait
before a retry: exponential with jitter, and at least the server's ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time

import attrs

from harness.judging.redaction import redact

FATAL_STATUSES = (401, 403)
MAX_RETRY_AFTER = 600.0  # seconds; a longer Retry-After (a spent daily quota) is cut to this


class EmptyReply(Exception):
    """A judge's grader replied with no text (a blocked or empty candidate, a reply cut at
    its token limit): the runner retries it, and an item that never gets a reply is a judge
    error — counted, never graded, never cached."""


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
    if isinstance(exc, EmptyReply):
        return Failure("retry", f"empty grader reply: {message}")
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


def backoff(retry: int, failure: Failure | None, *, base: float, cap: float, rng: random.Random) -> float:
    """Seconds before retry number ``retry`` (1-based): exponential back-off with jitter (at
    most ``cap``), and at least the server's ``Retry-After`` (which ``cap`` does not cut;
    ``MAX_RETRY_AFTER`` does)."""
    step = min(cap, base * 2 ** (retry - 1))
    delay = step / 2 + rng.uniform(0, step / 2)
    if failure is not None and failure.retry_after is not None:
        wanted = min(failure.retry_after, MAX_RETRY_AFTER)
        delay = max(delay, wanted * (1 + rng.uniform(0, 0.2)))
    return delay
