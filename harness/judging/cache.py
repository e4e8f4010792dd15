"""A persistent cache of judges' verdicts, shared by every run on this machine (node).

The judge runner looks each item up before asking a judge, and stores each successful
verdict after: a second run of the same experiment asks the API nothing. An entry is
keyed by a SHA-256 of the judge's name, model, prompt version, the settings that can change
its verdict (temperature, token limits, thinking budget) and everything it was shown (the
question, the gold answer, the predicted answer, and whatever else the judge declares it
reads: ``harness.judging.inputs``), so a verdict is never returned for an input or a grader
configuration it was not given.

Storage is one SQLite file in write-ahead-log mode per node, on a filesystem local to it
(``harness.judging.cache_location``: ``harness.paths.cache_dir()/judge-cache/``, or this node's
local storage where the cache folder is on NFS, Lustre or another network filesystem, on which
SQLite's locking cannot be trusted): safe under several processes of the node writing at once
(each write is its own short transaction; writers wait on a busy timeout) and under a
kill at any moment. Only the key's hash, the grade, the grader's raw reply, a confidence the
judge extracted (HLE's judge does) and the judge's name and model are stored — never a
request, a header or a credential. A cache file of an older version gains the confidence
column when it is opened. A cache that cannot be opened or written (a full disk) is one
line naming the file (``StorageError``).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.errors import StorageError
from harness.paths import cache_dir

FILE_NAME = "judgments.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS verdicts (
    key TEXT PRIMARY KEY,
    judge TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    grade TEXT NOT NULL,
    raw TEXT,
    created REAL NOT NULL,
    confidence REAL
)
"""


_COLUMNS = "key, judge, model, prompt_version, grade, raw, confidence"


def cache_key(
    *, judge: str, model: str, prompt_version: str, shown: Mapping[str, Any],
    settings: Mapping[str, Any] | None = None,
) -> str:
    """The cache key of one verdict: a hash of everything the verdict depends on — the judge,
    its model, prompt version and ``settings``, and what it was ``shown`` (by name)."""
    parts = [judge, model, prompt_version, dict(settings or {}), dict(shown)]
    text = json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def default_path() -> Path:
    from harness.judging.cache_location import judge_cache_folder

    folder = judge_cache_folder(cache_dir())
    folder.mkdir(parents=True, exist_ok=True)
    return folder / FILE_NAME


class JudgeCache:
    """Verdicts by key: ``get``/``get_many`` to look up, ``put`` to store (last write wins)."""

    def __init__(self, path: str | Path | None = None, *, timeout: float = 60.0) -> None:
        self.path = Path(path) if path is not None else default_path()
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(self.path), timeout=timeout, isolation_level=None, check_same_thread=False
            )
            self._db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")  # durable across process kills
            self._db.execute(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(verdicts)")}
            if "confidence" not in columns:  # a cache file of an older version
                try:
                    self._db.execute("ALTER TABLE verdicts ADD COLUMN confidence REAL")
                except sqlite3.OperationalError:  # another process added it first
                    pass
        except OSError as exc:
            raise StorageError.from_os(exc, self.path, "cannot open the judge cache") from None
        except sqlite3.Error as exc:
            raise StorageError(f"{self.path}: cannot open the judge cache: {exc}") from None

    def get(self, key: str) -> dict[str, Any] | None:
        return self.get_many([key]).get(key)

    def get_many(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        keys = list(keys)
        found: dict[str, dict[str, Any]] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT {_COLUMNS} FROM verdicts WHERE key IN ({marks})"
                rows = self._db.execute(query, chunk).fetchall()
                for key, judge, model, version, grade, raw, confidence in rows:
                    found[key] = {
                        "judge": judge,
                        "model": model,
                        "prompt_version": version,
                        "grade": grade,
                        "raw": raw,
                        "confidence": confidence,
                    }
        return found

    def put(
        self, key: str, *, judge: str, model: str, prompt_version: str, grade: str, raw: str | None,
        confidence: float | None = None,
    ) -> None:
        with self._lock:
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO verdicts (key, judge, model, prompt_version, grade, raw, created,"
                    " confidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (key, judge, model, prompt_version, grade, raw, time.time(), confidence),
                )
            except sqlite3.OperationalError as exc:  # "database or disk is full", read-only, ...
                raise StorageError(f"{self.path}: cannot write: {exc}") from None

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> JudgeCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
