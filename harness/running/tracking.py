"""Experiment tracking: a run's metrics logged to TensorBoard, MLflow or Weights & Biases.

Trainers take ``report_to`` (``-p trainer.report_to=tensorboard``) and pass it to the HF
Trainer, which logs the training curves; when any trainer has one, ``harness run`` also logs
the run's final metrics to the same trackers (``log_report``). All three work offline, with
local files: TensorBoard writes event files (``<run>/tracking/tensorboard`` here; the HF Trainer
under ``<run>/train/<trainer>/checkpoints/<phase>/runs``), MLflow its ``./mlruns`` folder (or
``MLFLOW_TRACKING_URI``), W&B ``<run>/tracking/wandb`` in offline mode unless ``WANDB_MODE``
says otherwise. Each needs its package installed (``pip install tensorboard`` / ``mlflow`` /
``wandb``); asking for one that is not is a one-line error before any work.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.errors import ParameterError

#: tracker name -> the module it needs
TRACKERS = {"tensorboard": "tensorboard", "mlflow": "mlflow", "wandb": "wandb"}
#: parameters that change where a run reports, never what it trains
RUN_ONLY_PARAMS = ("report_to",)


def check_trackers(owner: str, value: Any) -> tuple[str, ...]:
    """``"none"``, a tracker's name or a list of them, as a tuple; unknown or not installed: one line."""
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ParameterError(f"{owner}: report_to = {value!r}; expected 'none', a tracker or a list of them")
    chosen = tuple(dict.fromkeys(n for n in names if n != "none"))
    for name in chosen:
        if name not in TRACKERS:
            raise ParameterError(f"{owner}: report_to {name!r} is no tracker; "
                                 f"choose from none, {', '.join(TRACKERS)}")
        if importlib.util.find_spec(TRACKERS[name]) is None:
            raise ParameterError(f"{owner}: report_to {name!r} needs the {TRACKERS[name]} package "
                                 f"(pip install {TRACKERS[name]})")
    return chosen


def flat_metrics(report: Mapping[str, Any]) -> dict[str, float]:
    """Every number of a report worth a chart: ``<row>/<extractor>/<metric>``, each trainer's
    ``<trainer>/change/<metric>`` and ``<trainer>/passed`` (1 or 0)."""
    out: dict[str, float] = {}
    for row in report["rows"]:
        name = row["label"] + (f"+{row['calibrator']}" if row.get("calibrator") else "")
        for metric, entry in row["metrics"].items():
            if (entry or {}).get("value") is not None:
                out[f"{name}/{row['extractor']}/{metric}"] = float(entry["value"])
    for comp in report["comparisons"]:
        for metric, change in comp["changes"].items():
            if change.get("diff") is not None:
                out[f"{comp['trainer']}/change/{metric}"] = float(change["diff"])
        out[f"{comp['trainer']}/passed"] = float(bool(comp["passed"]))
    return out


def log_report(report: Mapping[str, Any], trackers: Iterable[str], run: Path) -> list[str]:
    """Log ``flat_metrics(report)`` to each tracker; return where each one wrote."""
    metrics = flat_metrics(report)
    where = []
    for name in dict.fromkeys(trackers):
        where.append(_LOGGERS[name](metrics, Path(run)))
    return where


def _tensorboard(metrics: Mapping[str, float], run: Path) -> str:
    from torch.utils.tensorboard import SummaryWriter

    folder = run / "tracking" / "tensorboard"
    writer = SummaryWriter(log_dir=str(folder))
    try:
        for key, value in metrics.items():
            writer.add_scalar(key, value, 0)
    finally:
        writer.close()
    return f"tensorboard: {folder}"


def _mlflow(metrics: Mapping[str, float], run: Path) -> str:
    import mlflow

    with mlflow.start_run(run_name=run.name):
        mlflow.log_metrics({k.replace("+", "_"): v for k, v in metrics.items()})
    return f"mlflow: {mlflow.get_tracking_uri()}"


def _wandb(metrics: Mapping[str, float], run: Path) -> str:
    import wandb

    folder = run / "tracking"
    folder.mkdir(parents=True, exist_ok=True)
    session = wandb.init(project="calibration-harness", name=run.name, dir=str(folder),
                         mode=os.environ.get("WANDB_MODE", "offline"))
    try:
        session.summary.update(dict(metrics))
    finally:
        session.finish()
    return f"wandb: {folder / 'wandb'}"


_LOGGERS = {"tensorboard": _tensorboard, "mlflow": _mlflow, "wandb": _wandb}
