"""A finished run with a calibration split, for a test module to make once on the embedded ``tiny`` model
(world 0: it answers some questions right and some wrong), for the export, predict and serve tests."""

from __future__ import annotations

import os
from pathlib import Path

import attrs
import pytest

from harness.running.experiment import ExperimentSpec, run_experiment

CALIBRATORS = ("isotonic", "platt", "temperature", "histogram")


def make_run(out: Path, cache: Path, **changes) -> Path:  # type: ignore[no-untyped-def]
    """``harness run --trainer implicit --calibration-size 0.3 --limit 120`` (one epoch) into ``out``,
    with the harness cache in ``cache`` (never the user's)."""
    spec = ExperimentSpec(task="facts", model="tiny", trainers=("implicit",), calibrators=CALIBRATORS,
                          calibration_size=0.3, limit=120, out=out, progress=False,
                          overrides=("trainer.epochs=1",))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HARNESS_CACHE_DIR", str(cache))
        patch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))
        run_experiment(attrs.evolve(spec, **changes))
    return out


def calibrated(factory: pytest.TempPathFactory) -> Path:
    """``make_run`` in a fresh folder of ``factory``, with the session's harness cache (a module
    fixture's body: the tests' own cache fixture is not there yet at module scope)."""
    return make_run(factory.mktemp("calibrated") / "run", factory.getbasetemp() / "harness-cache")
