"""The judge cache is one per node: under the user cache folder on a local disk, on the node's own
storage where that folder is on a network filesystem (whose locking SQLite cannot trust). The
mount table is written here, as /proc/self/mounts reads on a node with NFS home folders."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from harness.judging import cache_location
from harness.judging.cache import JudgeCache
from harness.judging.cache_location import filesystem_type, judge_cache_folder


def mounts(tmp_path: Path, *lines: str) -> Path:
    table = tmp_path / "mounts"
    table.write_text("".join(line + "\n" for line in lines))
    return table


def test_the_longest_mount_point_holding_a_path_gives_its_filesystem(tmp_path):
    table = mounts(tmp_path, "/dev/sda1 / ext4 rw 0 0", "server:/home /home nfs4 rw 0 0",
                   "lustre@o2ib:/scratch /scratch lustre rw 0 0", "tmpfs /home/me/fast tmpfs rw 0 0")
    assert filesystem_type(Path("/home/me/.cache"), table) == "nfs4"
    assert filesystem_type(Path("/home/me/fast/x"), table) == "tmpfs"
    assert filesystem_type(Path("/homework"), table) == "ext4"  # a prefix of the name is not the folder
    assert filesystem_type(Path("/scratch/runs"), table) == "lustre"


def test_on_a_local_disk_the_cache_stays_under_the_user_cache_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("HARNESS_NODE_CACHE_DIR", raising=False)
    table = mounts(tmp_path, "/dev/sda1 / ext4 rw 0 0")
    assert judge_cache_folder(tmp_path / "cache", table) == tmp_path / "cache" / "judge-cache"


@pytest.mark.parametrize("kind", ["nfs", "nfs4", "lustre", "gpfs", "beegfs", "cifs"])
def test_on_a_network_filesystem_each_node_keeps_its_own_cache_on_local_storage(tmp_path, monkeypatch, kind):
    monkeypatch.delenv("HARNESS_NODE_CACHE_DIR", raising=False)
    monkeypatch.setenv("SLURM_TMPDIR", str(tmp_path / "node-local"))
    table = mounts(tmp_path, "/dev/sda1 / ext4 rw 0 0", f"server:/export {tmp_path / 'home'} {kind} rw 0 0")
    folder = judge_cache_folder(tmp_path / "home" / ".cache", table)
    assert folder.parent.parent == tmp_path / "node-local" and folder.name == socket.gethostname()


def test_a_node_cache_folder_given_by_the_user_wins_and_the_cache_works_there(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "shared"))
    monkeypatch.setenv("HARNESS_NODE_CACHE_DIR", str(tmp_path / "local-ssd"))
    with JudgeCache() as cache:
        cache.put("k", judge="j", model="m", prompt_version="v", grade="correct", raw=None)
        assert cache.path.is_relative_to(tmp_path / "local-ssd" / f"harness-judge-cache-{_user()}")
    assert not (tmp_path / "shared" / "judge-cache").exists()
    with JudgeCache() as cache:
        assert cache.get("k")["grade"] == "correct"


def test_the_cache_folder_follows_the_filesystem_it_is_on(tmp_path, monkeypatch):
    monkeypatch.delenv("HARNESS_NODE_CACHE_DIR", raising=False)
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "home"))
    monkeypatch.setenv("SLURM_TMPDIR", str(tmp_path / "node"))
    monkeypatch.setattr(cache_location, "MOUNTS", mounts(tmp_path, "/dev/sda1 / ext4 rw 0 0",
                                                         f"server:/home {tmp_path / 'home'} nfs rw 0 0"))
    with JudgeCache() as cache:
        assert cache.path.is_relative_to(tmp_path / "node")  # never SQLite on the NFS home


def _user() -> str:
    import getpass

    return getpass.getuser()
