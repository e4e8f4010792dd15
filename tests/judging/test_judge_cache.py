"""The persistent judge cache: what its key depends on, persistence, concurrent writers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from judge_helpers import fresh_cache  # noqa: F401 - fixture

from harness.judging.cache import JudgeCache, cache_key

FIELDS = {
    "judge": "openai",
    "model": "gpt-4.1-mini",
    "prompt_version": "v1",
    "settings": {"temperature": 0.5, "max_tokens": 2048},
    "shown": {"question": "Capital of France?", "gold": "Paris", "answer": "Paris"},
}


def _changed(field: str, part: str | None = None) -> dict:
    if part is None:
        return {**FIELDS, field: FIELDS[field] + "x"}
    value = FIELDS[field][part]
    other = value + 1 if isinstance(value, (int, float)) else value + "x"
    return {**FIELDS, field: {**FIELDS[field], part: other}}


@pytest.mark.parametrize(("field", "part"), [
    ("judge", None), ("model", None), ("prompt_version", None),
    ("settings", "temperature"), ("settings", "max_tokens"),
    ("shown", "question"), ("shown", "gold"), ("shown", "answer"),
])
def test_every_input_of_a_verdict_is_in_its_key(field: str, part: str | None) -> None:
    assert cache_key(**FIELDS) != cache_key(**_changed(field, part))


def test_what_else_a_judge_is_shown_is_in_its_key() -> None:
    with_response = {**FIELDS, "shown": {**FIELDS["shown"], "response": "Answer: Paris\nConfidence: 95%"}}
    other_response = {**FIELDS, "shown": {**FIELDS["shown"], "response": "Answer: Paris\nConfidence: 60%"}}
    keys = {cache_key(**FIELDS), cache_key(**with_response), cache_key(**other_response)}
    assert len(keys) == 3


def test_fields_cannot_run_into_each_other() -> None:
    a = cache_key(**{**FIELDS, "shown": {"question": "ab", "gold": "c"}})
    b = cache_key(**{**FIELDS, "shown": {"question": "a", "gold": "bc"}})
    assert a != b


def test_verdicts_persist_in_the_user_cache_folder(fresh_cache: Path) -> None:  # noqa: F811
    with JudgeCache() as cache:
        cache.put("k1", judge="openai", model="m", prompt_version="v1", grade="correct", raw="A")
    assert (fresh_cache / "judge-cache" / "judgments.sqlite3").exists()
    with JudgeCache() as cache:
        assert cache.get("k1") == {"judge": "openai", "model": "m", "prompt_version": "v1",
                                   "grade": "correct", "raw": "A", "confidence": None}
        assert cache.get("missing") is None
        assert len(cache) == 1


def test_a_judge_extracted_confidence_is_kept_and_an_old_cache_file_gains_its_column(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:  # the schema of the previous version, with one verdict
        db.execute("CREATE TABLE verdicts (key TEXT PRIMARY KEY, judge TEXT NOT NULL, model TEXT NOT NULL,"
                   " prompt_version TEXT NOT NULL, grade TEXT NOT NULL, raw TEXT, created REAL NOT NULL)")
        db.execute("INSERT INTO verdicts VALUES ('old', 'openai', 'm', 'v1', 'correct', 'A', 0)")
    with JudgeCache(path) as cache:
        assert cache.get("old")["confidence"] is None
        cache.put("k", judge="hle", model="m", prompt_version="v", grade="incorrect", raw="{}",
                  confidence=0.85)
    with JudgeCache(path) as cache:
        assert cache.get("k")["confidence"] == 0.85


WRITER = """
import os, sys, time
from harness.judging.cache import JudgeCache
while not os.path.exists(sys.argv[1] + ".go"):  # start together
    time.sleep(0.001)
with JudgeCache(sys.argv[1]) as cache:
    for i in range(int(sys.argv[3])):
        cache.put(f"{sys.argv[2]}-{i}", judge="j", model="m", prompt_version="v", grade="correct", raw=None)
"""


def test_several_processes_write_at_once_and_nothing_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    JudgeCache(path).close()
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"w{n}", "150"], env=os.environ.copy())
        for n in range(3)
    ]
    Path(f"{path}.go").touch()
    assert [w.wait(timeout=60) for w in writers] == [0, 0, 0]
    with JudgeCache(path) as cache:
        assert len(cache) == 450
        keys = [f"w{n}-{i}" for n in range(3) for i in range(150)]
        assert len(cache.get_many(keys)) == 450  # looked up in chunks below SQLite's limits


def test_a_full_disk_or_a_blocked_cache_is_one_line(tmp_path, monkeypatch):
    import sqlite3

    from harness.errors import StorageError
    from harness.judging.cache import JudgeCache

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(StorageError, match=r"not-a-folder/judge.sqlite3: cannot open the judge cache: "):
        JudgeCache(blocker / "judge.sqlite3")
    cache = JudgeCache(tmp_path / "judge.sqlite3")

    class FullDisk:
        def execute(self, *args):
            raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(cache, "_db", FullDisk())
    with pytest.raises(StorageError, match=r"judge.sqlite3: cannot write: database or disk is full$"):
        cache.put("k", judge="j", model="m", prompt_version="v", grade="correct", raw="A")
