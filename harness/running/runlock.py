"""One writer per run folder: ``run.lock``, held for the whole of ``harness run``.

The lock file is created with ``O_CREAT | O_EXCL`` (atomic on a local filesystem) and holds
the holder's pid, host and start time. A second run on a held folder stops with one line
naming the holder. A lock left by a process that died (its pid no longer exists on this
host) is stale: it is taken over, so a killed run still resumes.

The lock also records the scheduler's identity (``harness.running.scheduler_identity``: the
Slurm job, array and restart count; the Ray task and attempt). A cell requeued by a scheduler
may start on another host: a lock left by an *earlier attempt of the same job* is taken over
there too. Any other lock from another host cannot be checked and is never taken over (it may
be a live different job); the message says which file to remove.

Under ``accelerate launch`` only the main process (``RANK`` 0) takes the lock: the others
are the same run.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from harness.errors import HarnessError, StorageError
from harness.running.scheduler_identity import earlier_attempt, identity

LOCK_FILE = "run.lock"
#: a takeover guard older than this was left by a process killed mid-takeover
GUARD_STALE_S = 30.0


class RunLockedError(HarnessError):
    """The run folder is held by another live ``harness run``."""


def _holder() -> dict[str, Any]:
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    scheduler = identity()
    return {**holder, "scheduler": scheduler} if scheduler else holder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _read(path: Path) -> dict[str, Any] | None:
    """The holder recorded in ``path``; ``{}`` when unreadable (torn by a kill), None when absent."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _stale(holder: dict[str, Any]) -> bool:
    """A holder that is certainly gone: a dead pid on this host, an earlier attempt of this
    scheduler job (on any host), or a file torn mid-write."""
    if not holder:
        return True
    scheduler = holder.get("scheduler")
    if isinstance(scheduler, dict) and earlier_attempt(scheduler):
        return True
    pid = holder.get("pid")
    if holder.get("host") != socket.gethostname() or not isinstance(pid, int):
        return False
    return pid != os.getpid() and not _alive(pid)


def _describe(holder: dict[str, Any]) -> str:
    text = f"pid {holder.get('pid')} on {holder.get('host')}, started {holder.get('started')}"
    scheduler = holder.get("scheduler") or {}
    slurm, ray = scheduler.get("slurm") or {}, scheduler.get("ray") or {}
    if slurm:
        text += f", Slurm job {slurm.get('job_id')} restart {slurm.get('restart_count', 0)}"
    if ray:
        text += f", Ray task {ray.get('task_id')} attempt {ray.get('attempt', 0)}"
    return text


class RunLock:
    """``with RunLock(folder):`` holds ``folder/run.lock`` for the block."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / LOCK_FILE
        self.held = False

    def acquire(self) -> None:
        for _ in range(3):
            if self._create():
                return
            holder = _read(self.path)
            if holder is None:
                continue  # released meanwhile: try again
            if not _stale(holder):
                raise RunLockedError(
                    f"{self.path.parent}: another harness run is writing this run folder "
                    f"({_describe(holder)}); wait for it, or remove {self.path} if that process is gone"
                )
            self._take_over(holder)
        raise RunLockedError(f"{self.path}: could not take the run lock (several runs are racing for it)")

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        except OSError as exc:
            raise StorageError.from_os(exc, self.path) from None
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(_holder(), handle)
        self.held = True
        return True

    def _take_over(self, stale: dict[str, Any]) -> None:
        """Remove a stale lock, under a short-lived guard so that two runs taking over the same
        stale lock cannot both remove it (the second would remove the first's new lock)."""
        guard = self.path.with_name(LOCK_FILE + ".takeover")
        try:
            fd = os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                if time.time() - guard.stat().st_mtime > GUARD_STALE_S:
                    guard.unlink(missing_ok=True)
            except FileNotFoundError:
                pass
            time.sleep(0.05)
            return
        os.close(fd)
        try:
            if _read(self.path) == stale:  # still the same stale holder
                self.path.unlink(missing_ok=True)
        finally:
            guard.unlink(missing_ok=True)

    def release(self) -> None:
        if self.held:
            holder = _read(self.path)
            if holder and holder.get("pid") == os.getpid():
                self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> RunLock:
        if os.environ.get("RANK", "0") == "0":
            self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
