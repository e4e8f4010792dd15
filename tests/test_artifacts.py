"""Crash-safe run files: per-line atomic appends, torn tails, strict reading, atomic writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.artifacts import (
    JsonlAppender,
    iter_jsonl,
    read_jsonl,
    write_bytes_atomic,
    write_json_atomic,
    write_jsonl_atomic,
    write_text_atomic,
)
from harness.errors import InputError
from harness.records import Prediction


def test_appended_records_read_back_in_order(tmp_path: Path):
    path = tmp_path / "stage" / "predictions.jsonl"  # the folder is created
    with JsonlAppender(path) as out:
        out.write(Prediction(example_id="q1", answer="Paris", confidence=0.9))
        out.write_all([{"example_id": "q2", "answer": "Zürich", "confidence": None}])
    read = read_jsonl(path)
    assert read.rows == [
        {"example_id": "q1", "answer": "Paris", "confidence": 0.9, "extractor": "", "error": None},
        {"example_id": "q2", "answer": "Zürich", "confidence": None},
    ]
    assert (read.torn, read.line_numbers) == (False, [1, 2])
    assert "Zürich" in path.read_text(encoding="utf-8")  # UTF-8, not \u escapes
    assert list(iter_jsonl(path)) == read.rows


def test_reopening_appends_after_what_is_there(tmp_path: Path):
    path = tmp_path / "a.jsonl"
    for i in range(3):
        with JsonlAppender(path, fsync=True) as out:
            out.write({"i": i})
    assert [row["i"] for row in read_jsonl(path).rows] == [0, 1, 2]


def test_a_torn_last_line_is_tolerated_and_reported(tmp_path: Path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"i": 0}\n{"i": 1}\n{"i": 2, "tex')
    read = read_jsonl(path)
    assert read.rows == [{"i": 0}, {"i": 1}]
    assert read.torn is True
    assert read.line_numbers == [1, 2]


def test_a_torn_last_line_is_an_error_where_it_is_not_tolerated(tmp_path: Path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"i": 0}\n{"i": 1')
    with pytest.raises(InputError, match=r"a.jsonl:2: not valid JSON"):
        read_jsonl(path, tolerate_torn=False)


def test_a_complete_last_line_without_a_newline_is_not_torn(tmp_path: Path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"i": 0}\n{"i": 1}')
    read = read_jsonl(path)
    assert (read.rows, read.torn) == ([{"i": 0}, {"i": 1}], False)


def test_a_torn_tail_is_cut_before_the_next_append(tmp_path: Path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"i": 0}\n{"i": 1, "te')
    with JsonlAppender(path) as out:
        assert path.read_bytes() == b'{"i": 0}\n'  # repaired on open
        out.write({"i": 1})
    assert path.read_bytes() == b'{"i": 0}\n{"i": 1}\n'
    assert read_jsonl(path).torn is False


def test_a_file_that_is_one_torn_line_is_emptied_before_appending(tmp_path: Path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"i": 0, "te' + b"x" * 10_000)  # longer than one repair block
    with JsonlAppender(path) as out:
        out.write({"i": 0})
    assert path.read_bytes() == b'{"i": 0}\n'


def test_a_torn_tail_after_a_long_file_is_cut_at_the_last_newline(tmp_path: Path):
    path = tmp_path / "a.jsonl"
    rows = [{"i": i, "pad": "x" * 100} for i in range(200)]
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in rows) + b'{"i": 200, "pad": "xx')
    with JsonlAppender(path):
        pass
    assert read_jsonl(path).rows == rows


def test_a_non_json_middle_line_is_an_input_error_with_its_line_number(tmp_path: Path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"i": 0}\n\n{"i": 1\n{"i": 2}\n')
    with pytest.raises(InputError) as info:
        read_jsonl(path)
    assert str(info.value).startswith(f"{path}:3: not valid JSON (")


def test_a_line_that_is_not_an_object_is_an_input_error(tmp_path: Path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"i": 0}\n[1, 2]\n')
    with pytest.raises(InputError, match=r"a.jsonl:2: expected a JSON object, got list"):
        read_jsonl(path)


def test_blank_lines_are_skipped_and_line_numbers_stay_true(tmp_path: Path):
    path = tmp_path / "a.jsonl"
    path.write_text('\n{"i": 0}\n   \n{"i": 1}\n\n')
    assert read_jsonl(path).line_numbers == [2, 4]


def test_bytes_that_are_not_utf8_are_an_input_error(tmp_path: Path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"i": 0}\n{"i": "\xff"}\n{"i": 2}\n')
    with pytest.raises(InputError, match=r"a.jsonl:2: not valid JSON"):
        read_jsonl(path)


def test_a_missing_file_or_a_directory_is_an_input_error(tmp_path: Path):
    with pytest.raises(InputError, match=r"nope.jsonl: no such file"):
        read_jsonl(tmp_path / "nope.jsonl")
    with pytest.raises(InputError, match="is a directory, not a JSON Lines file"):
        read_jsonl(tmp_path)


def test_a_record_with_nan_is_refused_and_nothing_is_written(tmp_path: Path):
    path = tmp_path / "a.jsonl"
    with JsonlAppender(path) as out:
        out.write({"i": 0})
        with pytest.raises(ValueError):
            out.write({"confidence": float("nan")})
    assert read_jsonl(path).rows == [{"i": 0}]


WRITER = """
import sys
from harness.artifacts import JsonlAppender
with JsonlAppender(sys.argv[1]) as out:
    i = 0
    while True:
        out.write({"i": i, "text": "x" * 500})
        i += 1
"""


def test_a_writer_killed_mid_run_leaves_only_whole_lines(tmp_path: Path):
    path = tmp_path / "a.jsonl"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
    try:
        deadline = time.monotonic() + 30
        while (not path.exists() or path.stat().st_size < 200_000) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    read = read_jsonl(path, tolerate_torn=False)
    assert len(read.rows) > 100
    assert [row["i"] for row in read.rows] == list(range(len(read.rows)))


# -- atomic whole-file writes ----------------------------------------------------------------


def test_atomic_writes_leave_the_file_and_no_temporary_files(tmp_path: Path):
    write_json_atomic(tmp_path / "manifest.json", {"seed": 0, "name": "Zürich"})
    write_text_atomic(tmp_path / "report.md", "# Report\n")
    write_jsonl_atomic(tmp_path / "p.jsonl", [Prediction(example_id="q1", answer="a", confidence=None)])
    write_json_atomic(tmp_path / "manifest.json", {"seed": 1})  # replaces
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "p.jsonl", "report.md"]
    assert json.loads((tmp_path / "manifest.json").read_text()) == {"seed": 1}
    assert read_jsonl(tmp_path / "p.jsonl").rows[0]["confidence"] is None


def test_a_failed_atomic_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path: Path):
    target = tmp_path / "occupied"
    target.mkdir()  # os.replace cannot put a file over a directory
    with pytest.raises(OSError):
        write_bytes_atomic(target, b"data")
    assert [p.name for p in tmp_path.iterdir()] == ["occupied"]

    write_json_atomic(tmp_path / "m.json", {"a": 1})
    with pytest.raises(ValueError):
        write_json_atomic(tmp_path / "m.json", {"a": float("nan")})
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "occupied"]


def test_an_atomic_write_gets_the_mode_of_an_ordinary_write(tmp_path: Path):
    ordinary = tmp_path / "ordinary.txt"
    ordinary.write_text("x")
    write_text_atomic(tmp_path / "atomic.txt", "x")
    mode = os.stat(tmp_path / "atomic.txt").st_mode & 0o777
    assert mode == os.stat(ordinary).st_mode & 0o777
