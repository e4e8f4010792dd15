"""One writer per run folder, and the run folder's OS errors as one line: a second `harness run`
on a held folder refuses (two real processes), a dead holder's lock is taken over so a killed
run resumes, `--out` naming a file and a full disk are one line and exit 2, and a rerun after
the disk is freed resumes with nothing written twice."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import test_experiment
from test_experiment import QUESTIONS, spec

from harness.cli import main
from harness.running.experiment import run_experiment
from harness.running.runlock import LOCK_FILE, RunLock, RunLockedError

qa_file = test_experiment.qa_file  # the same questions file, as a fixture here too

HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from harness.running.runlock import RunLock
    with RunLock(Path(sys.argv[1])):
        print("held", flush=True)
        time.sleep(60)
""")


def cli_args(tiny_lm_path: Path, qa: Path, out: Path) -> list[str]:
    return ["run", "--task", "jsonl", "--model", str(tiny_lm_path), "--out", str(out),
            "-p", f"task.path={qa}", "-p", "task.group_field=item", "-p", "backend.max_new_tokens=4"]


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
        raise SystemExit(0)
    return int(exit_info.value.code or 0), capsys.readouterr().err


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_second_run_on_a_held_folder_refuses_naming_the_holder(tiny_lm_path, qa_file, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        second = subprocess.run([sys.executable, "-m", "harness.cli", *cli_args(tiny_lm_path, qa_file, out)],
                                capture_output=True, text=True, timeout=300)
    finally:
        holder.kill()
        holder.wait()
    assert second.returncode == 2, second.stderr
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness: error: "), second.stderr
    assert f"pid {holder.pid} on {socket.gethostname()}" in lines[0]
    assert not (out / "manifest.json").exists()  # the second run wrote nothing


def test_a_dead_holders_lock_is_taken_over_and_released(tiny_lm_path, qa_file, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    stale = {"pid": dead_pid(), "host": socket.gethostname(), "started": "2026-01-01T00:00:00Z"}
    (out / LOCK_FILE).write_text(json.dumps(stale))
    report = run_experiment(spec(tiny_lm_path, qa_file, out))
    assert report["rows"]
    assert not (out / LOCK_FILE).exists()


def test_a_lock_from_another_host_or_a_live_process_is_kept(tmp_path):
    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": 1, "host": "elsewhere", "started": "x"}))
    with pytest.raises(RunLockedError, match="pid 1 on elsewhere"):
        RunLock(tmp_path).acquire()
    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname()}))
    with pytest.raises(RunLockedError):
        RunLock(tmp_path).acquire()
    (tmp_path / LOCK_FILE).write_text('{"pid": 12')  # torn by a kill mid-write: stale
    with RunLock(tmp_path) as lock:
        assert lock.held and json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert not (tmp_path / LOCK_FILE).exists()


def test_out_naming_a_file_is_one_line(tiny_lm_path, qa_file, tmp_path, capsys):
    target = tmp_path / "report.txt"
    target.write_text("not a folder")
    code, err = run_cli(cli_args(tiny_lm_path, qa_file, target), capsys)
    assert code == 2
    assert err.strip() == f"harness: error: {target}: exists and is not a folder; --out names the run folder"


def test_a_full_disk_is_one_line_and_the_rerun_writes_nothing_twice(
        tiny_lm_path, qa_file, tmp_path, capsys, monkeypatch):
    """ENOSPC injected into the writes of generations.jsonl after 5 lines (no small filesystem
    can be mounted here): the run stops with one line, and resumes once the disk is "freed"."""
    out = tmp_path / "run"
    real_write = os.write
    written = {"lines": 0}

    def full_disk(fd: int, data: bytes) -> int:
        if os.readlink(f"/proc/self/fd/{fd}").endswith("generations.jsonl"):
            if written["lines"] >= 5:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            written["lines"] += 1
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full_disk)
    code, err = run_cli(cli_args(tiny_lm_path, qa_file, out), capsys)
    monkeypatch.setattr(os, "write", real_write)
    generations = out / "baseline" / "logprob" / "all" / "generations.jsonl"
    assert code == 2
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last == f"harness: error: {generations}: cannot write: No space left on device"
    assert not (out / LOCK_FILE).exists()  # released on the way out
    assert len(generations.read_text().splitlines()) == 5

    mtime = time.time()
    code, err = run_cli(cli_args(tiny_lm_path, qa_file, out), capsys)
    assert code == 0, err
    ids = [json.loads(line)["example_id"] for line in generations.read_text().splitlines()]
    assert sorted(ids) == sorted(q[0] for q in QUESTIONS)  # each once: the first five were kept
    assert generations.stat().st_mtime >= mtime


def test_write_json_atomic_names_the_file_on_a_full_disk(tmp_path, monkeypatch):
    from harness import artifacts
    from harness.errors import StorageError

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(artifacts.os, "fsync", full)
    with pytest.raises(StorageError, match=r"report.json: cannot write: No space left on device"):
        artifacts.write_json_atomic(tmp_path / "report.json", {"a": 1})
    assert os.listdir(tmp_path) == []  # no temporary file left behind
