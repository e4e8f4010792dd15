"""Crash-safe files of a run folder.

Two ways to write, both safe against a kill at any moment:

- ``JsonlAppender``: append-only JSON Lines. Each record is one ``os.write`` of a whole
  line to a file opened with ``O_APPEND``, so a line is either there or torn at the very
  end. Opening a file whose last line is torn cuts that tail off first, so later
  appends never glue onto it.
- ``write_json_atomic`` / ``write_text_atomic``: write a temporary file, fsync, rename.

``read_jsonl`` tolerates a torn last line (it is reported in ``JsonlRead.torn``) and
rejects any other malformed line with an ``InputError`` naming file and line.

An ``OSError`` while writing (a full disk, no permission) becomes a ``StorageError``: one
line naming the file and the reason. What was written before stays whole, so a rerun
after freeing space resumes with nothing written twice. ``storing(path)`` does the same
around code that writes through a library (a model's ``save_pretrained``), including the
errors such libraries raise in place of an ``OSError``; ``read_json`` reads a JSON object
of the run folder or says in one line why it cannot.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs

from harness.errors import InputError, StorageError


@attrs.frozen
class JsonlRead:
    """Rows of a JSON Lines file and whether its last line was torn by a crash."""

    rows: list[dict[str, Any]]
    torn: bool = False
    line_numbers: list[int] = attrs.field(factory=list)


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a JSON Lines file")


def iter_jsonl(path: str | os.PathLike[str], *, tolerate_torn: bool = True) -> Iterator[dict[str, Any]]:
    """Yield each JSON object of ``path``; a torn final line is skipped when tolerated."""
    yield from read_jsonl(path, tolerate_torn=tolerate_torn).rows


def read_jsonl(path: str | os.PathLike[str], *, tolerate_torn: bool = True) -> JsonlRead:
    """Read a JSON Lines file: every line one JSON object; blank lines are ignored."""
    path = Path(path)
    _check_readable(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    torn_tail = bool(data) and not data.endswith(b"\n")
    lines = data.split(b"\n")
    rows: list[dict[str, Any]] = []
    numbers: list[int] = []
    torn = False
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        is_last = number == len(lines)
        try:
            value = json.loads(raw)
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an int over 4300 digits
            if is_last and torn_tail and tolerate_torn:
                torn = True
                break
            raise InputError(f"{path}:{number}: not valid JSON ({_short(exc)})") from None
        if not isinstance(value, dict):
            raise InputError(f"{path}:{number}: expected a JSON object, got {type(value).__name__}")
        rows.append(value)
        numbers.append(number)
    return JsonlRead(rows=rows, torn=torn, line_numbers=numbers)


def read_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON object in ``path``; one line naming the file when it cannot be read
    (``StorageError``), is not JSON or not an object (``InputError``)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StorageError.from_os(exc, path, "cannot read") from None
    try:
        value = json.loads(data)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise InputError(f"{path}: not valid JSON ({_short(exc)}); remove it to redo what wrote it") from None
    if not isinstance(value, dict):
        raise InputError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


#: what libraries raise in place of an ``OSError`` when a file cannot be written: safetensors
#: (``SafetensorError: Error while serializing: I/O error: ...``) and torch's zip writer
_STORAGE_MESSAGES = ("I/O error", "IoError", "PytorchStreamWriter failed", "file write failed")


def is_storage_failure(exc: BaseException) -> bool:
    """Whether ``exc`` says a file could not be written or read: an ``OSError``, or one of the
    errors libraries raise in its place (``_STORAGE_MESSAGES``)."""
    if isinstance(exc, OSError):
        return True
    named = isinstance(exc, RuntimeError) or type(exc).__name__ == "SafetensorError"
    return named and any(marker in str(exc) for marker in _STORAGE_MESSAGES)


@contextlib.contextmanager
def storing(path: str | os.PathLike[str], action: str = "cannot write") -> Iterator[None]:
    """Turn a failure to store files under ``path`` into a ``StorageError`` naming ``path``: an
    ``OSError`` (with a file name or, as a library's ``write`` raises it, without) and the errors
    libraries raise in place of one."""
    try:
        yield
    except StorageError:
        raise
    except OSError as exc:
        raise StorageError.from_os(exc, path, action) from None
    except Exception as exc:
        if not is_storage_failure(exc):
            raise
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(f"{path}: {action}: {reason}") from None


def _short(exc: Exception) -> str:
    return str(exc).split(":")[0] if isinstance(exc, json.JSONDecodeError) else str(exc)


def _repair_torn_tail(path: Path) -> None:
    """Cut a partial last line (no trailing newline) left by a crash."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        # Walk back to the last newline.
        block = 4096
        pos = size
        keep = 0
        while pos > 0:
            step = min(block, pos)
            pos -= step
            handle.seek(pos)
            chunk = handle.read(step)
            idx = chunk.rfind(b"\n")
            if idx >= 0:
                keep = pos + idx + 1
                break
        handle.truncate(keep)


class JsonlAppender:
    """Append records to a JSON Lines file, one atomic ``write`` per line."""

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.path = Path(path)
        self._fd = -1
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _repair_torn_tail(self.path)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StorageError.from_os(exc, self.path) from None
        self._fsync = fsync

    def write(self, record: Any) -> None:
        data = record.to_dict() if hasattr(record, "to_dict") else record
        line = (json.dumps(data, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
        try:
            written = os.write(self._fd, line)
            if written != len(line):  # a full disk can take part of a line: cut it, as a crash would
                _repair_torn_tail(self.path)
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            if self._fsync:
                os.fsync(self._fd)
        except StorageError:
            raise
        except OSError as exc:
            raise StorageError.from_os(exc, self.path) from None

    def write_all(self, records: Iterable[Any]) -> None:
        for record in records:
            self.write(record)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    write_bytes_atomic(path, text.encode("utf-8"))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once, at import (os.umask can only be read by setting it).
_UMASK = _umask()


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, fsync and a rename.

    The file gets the mode an ordinary ``open(path, "w")`` would give it (``mkstemp``
    alone would leave it readable by its owner only).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise StorageError.from_os(exc, path) from None
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise StorageError.from_os(exc, path) from None
        raise


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def write_jsonl_atomic(path: str | os.PathLike[str], records: Iterable[Any]) -> None:
    """Write a whole JSON Lines file at once (write-then-rename)."""
    lines = []
    for record in records:
        data = record.to_dict() if hasattr(record, "to_dict") else record
        lines.append(json.dumps(data, ensure_ascii=False, allow_nan=False))
    write_text_atomic(path, "".join(line + "\n" for line in lines))
