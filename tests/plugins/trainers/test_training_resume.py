"""A training killed right after a checkpoint resumes from it: no step is redone, the log holds
each step once, and the adapter equals an uninterrupted run's — for the implicit trainer, and for
the explicit one killed in DPO after its warm-up (which is reused, not redone)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from torch_helpers import one_torch_thread
from training_child import train

from harness.artifacts import read_jsonl
from harness.plugins.trainers import common

CHILD = Path(__file__).parents[2] / "training_child.py"
_one_thread = pytest.fixture(one_torch_thread)


def logged_steps(out_dir: Path, phase: str) -> list[int]:
    rows = read_jsonl(out_dir / common.LOG_FILE).rows
    return [r["step"] for r in rows if "loss" in r and r["phase"] == phase]


def adapter(out_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(out_dir / common.ADAPTER_DIR / "adapter_model.safetensors"))


@pytest.mark.slow
@pytest.mark.parametrize(("trainer", "phase"), [("implicit", "implicit"), ("explicit", "dpo")])
def test_a_killed_training_resumes_from_its_last_checkpoint(
        tiny_lm_path, tmp_path, _one_thread, trainer, phase):
    import torch

    whole = tmp_path / "whole"
    train(trainer, whole, str(tiny_lm_path))
    assert logged_steps(whole, phase) == list(range(1, 13))
    assert not list((whole / common.CHECKPOINTS_DIR / phase).glob("checkpoint-*"))  # dropped once saved

    killed = tmp_path / "killed"
    child = subprocess.run([sys.executable, str(CHILD), trainer, str(killed), str(tiny_lm_path), phase, "6"],
                           capture_output=True, text=True, timeout=600)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert common.last_checkpoint(killed, phase).name == "checkpoint-6"
    assert not (killed / common.ADAPTER_DIR).exists()
    assert logged_steps(killed, phase)[-1] >= 6
    before = {p.name: p.stat().st_mtime_ns for p in killed.iterdir()}

    train(trainer, killed, str(tiny_lm_path))
    assert logged_steps(killed, phase) == list(range(1, 13))  # steps 1-6 from the killed attempt, once
    if trainer == "explicit":  # the warm-up was not redone
        assert logged_steps(killed, "sft") == list(range(1, 7))
        assert (killed / "sft_merged").stat().st_mtime_ns == before["sft_merged"]
    resumed, reference = adapter(killed), adapter(whole)
    assert resumed.keys() == reference.keys()
    for name, tensor in reference.items():
        # model, optimizer, scheduler, RNG and data order are restored from the checkpoint and
        # both runs use one thread: only float reordering could differ, far below 1e-6
        assert torch.allclose(resumed[name], tensor, atol=1e-6, rtol=0), name
    assert any(t.abs().max() > 1e-4 for n, t in reference.items() if "lora_B" in n)  # it trained
