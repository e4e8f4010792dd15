"""`harness run` under `accelerate launch` with 2 CPU processes (gloo): the main process alone
writes the run folder, generates, judges and reports, both train on their shard, and the adapter
equals a single-process run's with the same effective batch (4 per process x 2 processes = 4 x 2
accumulation steps)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
import test_experiment
from test_experiment import spec
from torch_helpers import one_torch_thread

from harness.running.experiment import run_experiment

qa_file = test_experiment.qa_file
_one_thread = pytest.fixture(one_torch_thread)
TRAINING = ("trainer.epochs=2", "trainer.learning_rate=1e-3", "trainer.lora_dropout=0.0",
            "trainer.target_modules=all-linear", "trainer.batch_size=4", "trainer.lm_on=all")
LIMIT = 33  # 16 training questions: two whole global batches of 8
LAUNCH = ["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
          "--mixed_precision", "no", "--dynamo_backend", "no"]


def adapter(run: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(run / "train" / "implicit" / "adapter" / "adapter_model.safetensors"))


def one_process_run(tiny_lm_path: Path, qa_file: Path, out: Path) -> list[str]:
    """The one-process run (batch 4, 2 accumulation steps) into ``out``, and the ``harness run``
    arguments (less ``--out``) of the same run for 2 processes (batch 4 each, no accumulation)."""
    s = spec(tiny_lm_path, qa_file, out, trainers=("implicit",), limit=LIMIT)
    accumulated = ("trainer.gradient_accumulation_steps=2",)
    run_experiment(attrs.evolve(s, overrides=s.overrides + TRAINING + accumulated))
    args = ["--task", "jsonl", "--model", str(tiny_lm_path), "--trainer", "implicit", "--limit", str(LIMIT)]
    for override in s.overrides + TRAINING + ("trainer.gradient_accumulation_steps=1",):
        args += ["-p", override]
    return args


@pytest.mark.slow
def test_two_cpu_processes_train_as_one_with_the_same_effective_batch(
        tiny_lm_path, qa_file, tmp_path, _one_thread):
    import torch

    single = tmp_path / "single"
    double = tmp_path / "double"
    args = [*one_process_run(tiny_lm_path, qa_file, single), "--out", str(double)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launched = subprocess.run([sys.executable, *LAUNCH, "-m", "harness.cli", "run", *args],
                              capture_output=True, text=True, timeout=900, env=env)
    assert launched.returncode == 0, launched.stderr[-3000:]

    manifest = json.loads((double / "manifest.json").read_text())
    assert manifest["processes"] == 2 and manifest["status"] == "complete"
    summary = json.loads((double / "train" / "implicit" / "train_summary.json").read_text())
    assert summary["counts"]["used"] == 16  # whole global batches: no sample repeated to fill one
    for name in ("generations.jsonl", "judgments.jsonl"):  # written once, by the main process
        for split in ("train", "test"):
            a = (single / "baseline" / "logprob" / split / name).read_text().splitlines()
            b = (double / "baseline" / "logprob" / split / name).read_text().splitlines()
            assert len(a) == len(b) == len({json.loads(line)["example_id"] for line in b})
    steps = [r["step"] for r in map(json.loads, (double / "train" / "implicit" / "train_log.jsonl")
                                   .read_text().splitlines()) if "loss" in r]
    assert steps == sorted(set(steps))  # one log, by the main process
    one, two = adapter(single), adapter(double)
    for name, tensor in one.items():
        # the same 8 examples per optimizer step, gradients averaged over 2 processes instead of
        # accumulated over 2 micro-batches: equal up to float summation order (bit-equal when
        # written; the bound leaves room for another reduction order, far below the LoRA
        # weights' own scale of ~1e-3 after these 4 steps)
        assert torch.allclose(two[name], tensor, atol=1e-5, rtol=0), name
    assert (double / "report.md").exists()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_two_machines_on_one_host_write_one_run_folder_and_train_as_one_process(
        tiny_lm_path, qa_file, tmp_path, _one_thread):
    """``accelerate launch --num_machines 2 --machine_rank 0|1 --main_process_ip ...``, each "machine"
    one process, as on two nodes sharing the run folder's filesystem: machine 0 writes the folder,
    machine 1 reads its training records from it; the adapter equals the one-process run's."""
    import torch

    single = tmp_path / "single"
    shared = tmp_path / "shared"
    args = [*one_process_run(tiny_lm_path, qa_file, single), "--out", str(shared)]
    port = str(_free_port())
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    machines = [subprocess.Popen(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
         "--num_machines", "2", "--machine_rank", str(rank), "--main_process_ip", "127.0.0.1",
         "--main_process_port", port, "--mixed_precision", "no", "--dynamo_backend", "no",
         "-m", "harness.cli", "run", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for rank in (0, 1)]
    outputs = [machine.communicate(timeout=900) for machine in machines]
    for machine, (_, err) in zip(machines, outputs, strict=True):
        assert machine.returncode == 0, err[-3000:]

    manifest = json.loads((shared / "manifest.json").read_text())
    assert manifest["processes"] == 2 and manifest["status"] == "complete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["qa.jsonl", "shared", "single"]  # one run folder
    lines = (shared / "baseline" / "logprob" / "train" / "generations.jsonl").read_text().splitlines()
    assert len(lines) == len({json.loads(line)["example_id"] for line in lines})  # written once
    one, two = adapter(single), adapter(shared)
    for name, tensor in one.items():  # the bound of the 2-process test above
        assert torch.allclose(two[name], tensor, atol=1e-5, rtol=0), name
    assert (shared / "report.md").exists()
