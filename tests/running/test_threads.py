"""Torch threads of a run: --threads, else OMP_NUM_THREADS, else the cores free now; below 1 is
one line and exit 2; the manifest records the count in force and why."""

from __future__ import annotations

import json
import os

import attrs
import pytest
import test_experiment
from test_experiment import spec
from test_runlock import cli_args, run_cli
from torch_helpers import one_torch_thread

from harness.running import threads
from harness.running.experiment import run_experiment

qa_file = test_experiment.qa_file
_one_thread = pytest.fixture(one_torch_thread)  # restores torch's count after the test


def measured(monkeypatch: pytest.MonkeyPatch, cpus: int, load: float) -> threads.ThreadChoice:
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)))
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    return threads.choose_threads()


@pytest.mark.parametrize(("cpus", "load", "expected"), [
    (2, 0.2, 2),   # idle: every core
    (2, 0.7, 1),   # one core more than half taken: one thread
    (2, 3.0, 1),   # three busy processes on two cores: still one, never zero
    (16, 4.2, 12),
])
def test_the_measured_default_counts_the_free_cores(monkeypatch, cpus, load, expected):
    choice = measured(monkeypatch, cpus, load)
    assert (choice.threads, choice.chosen_by, choice.cpus, choice.load_average_1m) == (
        expected, "measured", cpus, load)


def test_an_explicit_count_beats_the_environment_which_beats_the_measure(monkeypatch):
    monkeypatch.setenv(threads.ENV, "3")
    assert threads.choose_threads().threads == 3
    assert threads.choose_threads().chosen_by == "OMP_NUM_THREADS"
    assert threads.choose_threads(5).to_dict()["chosen_by"] == "--threads"
    monkeypatch.setenv(threads.ENV, "lots")  # not a count: measured instead
    assert threads.choose_threads().chosen_by == "measured"


@pytest.mark.parametrize("value", ["0", "-2"])
def test_threads_below_one_is_one_line(tiny_lm_path, qa_file, tmp_path, capsys, value):
    code, err = run_cli([*cli_args(tiny_lm_path, qa_file, tmp_path / "run"), "--threads", value], capsys)
    assert code == 2
    assert err.strip() == f"harness: error: --threads {value}: expected a whole number of threads, at least 1"
    assert not (tmp_path / "run").exists()


def test_the_manifest_records_the_threads_used(tiny_lm_path, qa_file, tmp_path, _one_thread):
    import torch

    out = tmp_path / "run"
    run_experiment(attrs.evolve(spec(tiny_lm_path, qa_file, out), threads=2))
    assert torch.get_num_threads() == 2
    recorded = json.loads((out / "manifest.json").read_text())["threads"]
    assert recorded["threads"] == 2 and recorded["chosen_by"] == "--threads"
    assert json.loads((out / "manifest.json").read_text())["spec"]["threads"] == 2
