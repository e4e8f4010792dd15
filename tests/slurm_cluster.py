"""A real one-node Slurm for the tests: Debian's ``munged``, ``slurmctld`` and ``slurmd`` started in
the foreground by the test, with a configuration of its own in a temporary folder
(``SLURM_CONF``, its own ports and munge socket), so nothing of the machine's is touched, and
stopped by their pids after.

What works in these sandboxes (../shared/notes/slurm-one-node.md): ``proctrack/linuxproc``,
``task/none``, no cgroup.conf. ``cred_expire`` is lowered from 120 s to 10 s: it is also how
long a requeued job waits before it may start again.

Without the daemons (or not as root) the tests that need it skip, saying why; with
``HARNESS_REQUIRE_SLURM=1`` (``.ci/run`` sets it after installing them) they fail instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "scontrol", "sinfo")
REQUIRE_ENV = "HARNESS_REQUIRE_SLURM"


def missing_reason() -> str | None:
    """Why a one-node Slurm cannot start here, or None."""
    absent = [d for d in DAEMONS if shutil.which(d) is None and not Path("/usr/sbin", d).exists()]
    if absent:
        return f"no {', '.join(absent)} (apt-get install slurmctld slurmd munge slurm-client)"
    if os.geteuid() != 0:
        return "the one-node Slurm runs its daemons as root"
    if not Path("/etc/munge/munge.key").is_file():
        return "no /etc/munge/munge.key"
    return None


def skip_or_fail(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but Slurm could not start: {reason}")
    pytest.skip(f"no one-node Slurm here: {reason}")


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _binary(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def write_config(folder: Path) -> Path:
    host = socket.gethostname().split(".")[0]
    cpus = os.cpu_count() or 1
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    controller, node = _free_ports(2)
    for sub in ("state", "spool", "log"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    config = folder / "slurm.conf"
    config.write_text(f"""ClusterName=harness-test
SlurmctldHost={host}
SlurmUser=root
SlurmctldPort={controller}
SlurmdPort={node}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={folder / 'munge.socket'},cred_expire=10
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/builtin
# a requeued job waits for the main scheduling loop (every 60 s by default)
SchedulerParameters=sched_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation={folder / 'state'}
SlurmdSpoolDir={folder / 'spool'}
SlurmctldPidFile={folder / 'slurmctld.pid'}
SlurmdPidFile={folder / 'slurmd.pid'}
SlurmctldLogFile={folder / 'log' / 'slurmctld.log'}
SlurmdLogFile={folder / 'log' / 'slurmd.log'}
ReturnToService=2
KillWait=2
MinJobAge=30
NodeName={host} CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
""")
    return config


@contextlib.contextmanager
def one_node_slurm(folder: Path, timeout: float = 60.0) -> Iterator[dict[str, str]]:
    """Start munged, slurmctld and slurmd; yield the environment that reaches them (SLURM_CONF)."""
    reason = missing_reason()
    if reason:
        skip_or_fail(reason)
    folder.mkdir(parents=True, exist_ok=True)
    config = write_config(folder)
    env = {**os.environ, "SLURM_CONF": str(config)}
    started: list[subprocess.Popen] = []
    log = open(folder / "log" / "daemons.log", "ab")  # noqa: SIM115 - closed below
    try:
        started.append(subprocess.Popen(
            [_binary("munged"), "-F", "--force", f"--socket={folder / 'munge.socket'}",
             f"--pid-file={folder / 'munged.pid'}", f"--log-file={folder / 'log' / 'munged.log'}",
             f"--seed-file={folder / 'munged.seed'}"], stdout=log, stderr=log, env=env))
        _wait(lambda: (folder / "munge.socket").exists(), timeout, "munged's socket", folder)
        started.append(subprocess.Popen([_binary("slurmctld"), "-D", "-i", "-f", str(config)],
                                        stdout=log, stderr=log, env=env))
        started.append(subprocess.Popen([_binary("slurmd"), "-D", "-f", str(config)],
                                        stdout=log, stderr=log, env=env))
        _wait(lambda: _node_ready(env), timeout, "the node to be idle", folder)
        yield env
    finally:
        if len(started) == 3:  # let the jobs end (or cancel them) before the daemons go
            subprocess.run(["scancel", "--full", "--user", str(os.getuid())], env=env, capture_output=True)
            deadline = time.monotonic() + 30
            while squeue(env).strip() and time.monotonic() < deadline:
                time.sleep(0.5)
        for process in reversed(started):  # only what this fixture started, by pid
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        _stop_leftovers(config)
        log.close()


def _stop_leftovers(config: Path) -> None:
    """Kill, by pid, any job step this cluster's slurmd left behind: the processes whose
    environment names this cluster's configuration (never any other process)."""
    marker = f"SLURM_CONF={config}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), 9)


def _node_ready(env: dict[str, str]) -> bool:
    done = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, env=env)
    return done.returncode == 0 and done.stdout.strip() in ("idle", "mixed", "allocated")


def poll(ready, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    """Whether ``ready()`` came true within ``timeout`` seconds (asked every half second)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return True
        time.sleep(0.5)
    return False


def _wait(ready, timeout: float, what: str, folder: Path) -> None:  # type: ignore[no-untyped-def]
    if poll(ready, timeout):
        return
    logs = "".join(p.read_text(errors="replace")[-1500:] for p in sorted((folder / "log").glob("*.log")))
    skip_or_fail(f"timed out waiting for {what}; logs:\n{logs}")


def squeue(env: dict[str, str]) -> str:
    return subprocess.run(["squeue", "-h", "-o", "%i %T"], capture_output=True, text=True, env=env).stdout
