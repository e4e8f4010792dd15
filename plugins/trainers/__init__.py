"""Built-in trainers: ``implicit`` (calibration loss), ``explicit`` (confidence DPO),
``brier`` (tokenized Brier loss of the stated confidence), ``rl`` (GRPO rewarded by a
proper scoring rule of the stated confidence, graded by the judge) and ``ptrue_tuning``
(calibration-tuning: the P(True) query alone, the answers untouched).

Each takes the judged training split and return a ``ModelRef`` to the trained model; their
modules import torch, transformers, peft and trl only when they train.
"""

from __future__ import annotations

import harness
from harness.plugins.trainers.brier import BrierTrainer
from harness.plugins.trainers.explicit import ExplicitTrainer
from harness.plugins.trainers.implicit import ImplicitTrainer
from harness.plugins.trainers.ptrue_tuning import PTrueTuningTrainer
from harness.plugins.trainers.rl import RLTrainer


@harness.hookimpl
def register_trainers(register):  # type: ignore[no-untyped-def]
    register("implicit", ImplicitTrainer)
    register("explicit", ExplicitTrainer)
    register("brier", BrierTrainer)
    register("rl", RLTrainer)
    register("ptrue_tuning", PTrueTuningTrainer)
