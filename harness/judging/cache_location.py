"""Where the judge cache lives: one per node, always on a filesystem local to that node.

SQLite's locking (and WAL's shared memory) is unreliable on NFS, Lustre, GPFS and the like,
and a test on a local disk proves nothing there. So the cache is **a cache per node**, never
one file shared through a network filesystem:

- where the user cache folder (``harness.paths.cache_dir()``) is on a local filesystem — a
  workstation, a node's own disk — the cache is ``<cache folder>/judge-cache/`` as it always was;
- where it is on a network filesystem (``/proc/self/mounts`` says ``nfs``, ``lustre``,
  ``gpfs``…), the cache moves to this node's local storage: ``$HARNESS_NODE_CACHE_DIR``, else
  ``$SLURM_TMPDIR`` / ``$TMPDIR`` / ``/tmp``, under ``harness-judge-cache-<user>/<host>/``.

Chosen over one file per verdict written by atomic rename (which shares verdicts across
nodes without locks) because a run looks up thousands of verdicts at once: one indexed query
on a local disk, against thousands of metadata operations per cell on the shared
filesystem's metadata server, multiplied by every cell of a sweep. What a requeued cell needs
on another node is in its own run folder already (``judgments.jsonl``, append-only, read on
resume), so no verdict a cell paid for is asked again; only cells on different nodes no longer
share verdicts with each other.
"""

from __future__ import annotations

import getpass
import os
import socket
import tempfile
from pathlib import Path

#: filesystem types (``/proc/self/mounts``' third field) on which SQLite's locking is not trusted
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "lustre", "gpfs", "cifs", "smb3", "smbfs", "beegfs", "ceph", "fuse.ceph",
    "glusterfs", "fuse.glusterfs", "fuse.sshfs", "panfs", "wekafs", "fuse.juicefs", "9p", "afs",
    "orangefs", "pvfs2", "ocfs2", "gfs2",
})
MOUNTS = Path("/proc/self/mounts")
NODE_ENV = "HARNESS_NODE_CACHE_DIR"


def filesystem_type(path: Path, mounts: Path | None = None) -> str | None:
    """The type of the filesystem holding ``path`` (its longest mount point), None if unknown."""
    try:
        table = (mounts or MOUNTS).read_text(encoding="utf-8").splitlines()
    except OSError:  # not Linux
        return None
    target = os.path.realpath(path)
    best, kind = "", None
    for line in table:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind


def on_network_filesystem(path: Path, mounts: Path | None = None) -> bool:
    return filesystem_type(path, mounts) in NETWORK_FILESYSTEMS


def node_local_folder() -> Path:
    """This node's own folder for the judge cache (see the module's docstring)."""
    base = os.environ.get(NODE_ENV) or os.environ.get("SLURM_TMPDIR") or tempfile.gettempdir()
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return Path(base) / f"harness-judge-cache-{user}" / socket.gethostname()


def judge_cache_folder(cache_folder: Path, mounts: Path | None = None) -> Path:
    """The judge cache's folder: under the user cache folder, unless that is shared by the network."""
    if os.environ.get(NODE_ENV):
        return node_local_folder()
    if on_network_filesystem(cache_folder, mounts):
        return node_local_folder()
    return cache_folder / "judge-cache"


__all__ = ["judge_cache_folder", "filesystem_type", "on_network_filesystem", "node_local_folder",
           "NETWORK_FILESYSTEMS", "NODE_ENV"]
