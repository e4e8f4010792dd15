"""Experiment tracking: trainers pass report_to to the HF Trainer, and a run logs its metrics there."""

from __future__ import annotations

import importlib.util
import json

import pytest
from view_fixtures import write_qa

from harness.errors import ParameterError
from harness.machinery import registry
from harness.machinery.config import Config
from harness.running.tracking import check_trackers, flat_metrics, log_report

HAS_TENSORBOARD = importlib.util.find_spec("tensorboard") is not None
needs_tensorboard = pytest.mark.skipif(not HAS_TENSORBOARD, reason="tensorboard is not installed")

REPORT = {"rows": [{"label": "baseline", "calibrator": None, "extractor": "logprob",
                    "metrics": {"ece": {"value": 0.2}, "auroc": {"value": None}}},
                   {"label": "implicit", "calibrator": "isotonic", "extractor": "logprob",
                    "metrics": {"ece": {"value": 0.05}}}],
          "comparisons": [{"trainer": "implicit", "passed": True,
                           "changes": {"ece": {"diff": -0.1}, "auroc": {"diff": None}}}]}


def test_the_report_becomes_flat_named_numbers():
    assert flat_metrics(REPORT) == {"baseline/logprob/ece": 0.2, "implicit+isotonic/logprob/ece": 0.05,
                                    "implicit/change/ece": -0.1, "implicit/passed": 1.0}


@pytest.mark.parametrize("value, message", [("tensorbored", "is no tracker"), (3, "expected 'none'")])
def test_an_unknown_tracker_is_one_line(value, message):
    with pytest.raises(ParameterError, match=message):
        check_trackers("trainer 'implicit'", value)


def test_a_tracker_whose_package_is_missing_says_what_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ParameterError, match=r"needs the mlflow package \(pip install mlflow\)"):
        check_trackers("trainer 'explicit'", ["mlflow"])


@needs_tensorboard
@pytest.mark.parametrize("name", ["implicit", "explicit", "brier"])
def test_trainers_pass_report_to_through_to_the_hf_trainer(name, tmp_path):
    from harness.plugins.trainers import common

    config = Config.load(overrides=["trainer.report_to=tensorboard"])
    trainer = registry.create("trainer", name, config)
    assert trainer.report_to == ("tensorboard",)
    cpu = common.Precision(use_cpu=True, bf16=False)
    arguments = common.common_arguments(trainer.settings, cpu, tmp_path)
    assert arguments["report_to"] == ["tensorboard"]
    assert registry.create("trainer", name, Config.load()).report_to == ()


@needs_tensorboard
def test_metrics_are_logged_to_tensorboard_files(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    where = log_report(REPORT, ["tensorboard"], tmp_path)
    assert where == [f"tensorboard: {tmp_path / 'tracking' / 'tensorboard'}"]
    events = EventAccumulator(str(tmp_path / "tracking" / "tensorboard"))
    events.Reload()
    assert events.Scalars("implicit/change/ece")[0].value == pytest.approx(-0.1)


@needs_tensorboard
@pytest.mark.slow
def test_a_training_run_reports_its_curves_and_its_metrics_to_tensorboard(tiny_lm_path, tmp_path):
    from harness.running.experiment import ExperimentSpec, run_experiment

    qa = write_qa(tmp_path / "qa.jsonl")
    out = tmp_path / "run"
    run_experiment(ExperimentSpec(
        task="jsonl", model=str(tiny_lm_path), out=out, progress=False, trainers=("implicit",),
        calibrators=(),
        overrides=(f"task.path={qa}", "task.group_field=item", "backend.max_new_tokens=4",
                   "trainer.epochs=1", "trainer.batch_size=4", "trainer.gradient_accumulation_steps=1",
                   "trainer.report_to=tensorboard")))
    runs = out / "train" / "implicit" / "checkpoints" / "implicit" / "runs"  # beside the dropped checkpoints
    curves = list(runs.rglob("events.out.tfevents.*"))
    assert curves, "the HF Trainer wrote no TensorBoard events"
    assert list((out / "tracking" / "tensorboard").glob("events.out.tfevents.*"))
    stage = json.loads((out / "train" / "implicit" / "stage.json").read_text())
    assert "report_to" not in stage["inputs"]["params"]  # where a run reports retrains nothing
