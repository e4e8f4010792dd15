"""Saving a trained adapter is collective: every process of a launch calls the trainer's
``save_model()`` (under ZeRO-3 or FSDP full sharding it gathers the shards; rank 0 saving alone
would write its own shard). Two CPU processes over gloo (DDP, which does not shard): both take
part and the adapter is whole.

FSDP itself cannot run here: accelerate 1.16 makes a launch FSDP only on accelerators
(``AcceleratorState`` sets ``DistributedType.FSDP`` for MULTI_GPU, MULTI_XPU, ... and never for
MULTI_CPU; an FSDP launch or ``training_args={fsdp = true, ...}`` on the CPU trains as DDP), so
the sharded save is checked by ``bench/gpu.sh`` on a machine with two GPUs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CHILD = Path(__file__).parents[2] / "collective_save_child.py"
LAUNCH = ["--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
          "--dynamo_backend", "no"]


@pytest.mark.slow
def test_every_process_takes_part_in_saving_the_adapter(tiny_lm_path, tmp_path):
    from safetensors.torch import load_file

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "accelerate.commands.launch", *LAUNCH, str(CHILD), str(tmp_path),
               str(tiny_lm_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = (tmp_path / "save_model.ranks").read_text().splitlines()
    calls = sorted(tuple(line.split()[:2]) for line in lines)
    # the adapter, and each checkpoint before it (the Trainer saves those through save_model too)
    folders = ("adapter.partial", "checkpoint-1", "checkpoint-2")
    assert calls == [(rank, folder) for rank in "01" for folder in folders]
    assert not (tmp_path / "adapter.partial").exists()
    adapter = load_file(str(tmp_path / "adapter" / "adapter_model.safetensors"))
    assert len(adapter) == 28  # q, k, v, o, gate, up, down: A and B, 2 layers
    # whole tensors: lora_A is r x in_features, lora_B out_features x r (hidden 32, MLP 128)
    assert {tuple(t.shape) for t in adapter.values()} == {(16, 32), (16, 128), (32, 16), (128, 16)}
    assert sorted(p.name for p in (tmp_path / "adapter").iterdir()) == [
        "README.md", "adapter_config.json", "adapter_model.safetensors", "tokenizer.json",
        "tokenizer_config.json"]
