"""A training in a process of its own, killed with SIGKILL right after its checkpoint of step K
of PHASE, for the test that resumes it.

Usage: ``python tests/training_child.py TRAINER OUT_DIR MODEL_PATH PHASE K`` (TRAINER: ``implicit``
or ``explicit``; PHASE: ``implicit``, ``sft`` or ``dpo``).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from trainer_fixtures import colour_records  # noqa: E402

from harness.plugins.trainers import common  # noqa: E402
from harness.plugins.trainers.explicit import ExplicitTrainer  # noqa: E402
from harness.plugins.trainers.implicit import ImplicitTrainer  # noqa: E402
from harness.records import ModelRef  # noqa: E402

#: 24 records in batches of 4 for 2 epochs: 12 steps, a checkpoint every 2
SHARED: dict[str, Any] = {
    "epochs": 2, "batch_size": 4, "gradient_accumulation_steps": 1, "learning_rate": 1e-3,
    "lora_dropout": 0.0, "target_modules": "all-linear", "seed": 0,
}
TRAINERS: dict[str, Any] = {
    "implicit": lambda: ImplicitTrainer(lam=1.0, lm_on="all", **SHARED),
    # a one-epoch warm-up (6 steps) before 12 DPO steps
    "explicit": lambda: ExplicitTrainer(target="binary", sft_epochs=1, sft_learning_rate=1e-3, **SHARED),
}
RECORDS = 24


def train(trainer: str, out_dir: Path, model_path: str) -> ModelRef:
    return TRAINERS[trainer]().train(ModelRef(base=model_path), colour_records(RECORDS), out_dir)


def main(trainer: str, out_dir: str, model_path: str, phase: str, kill_after: str) -> None:
    import torch
    from transformers import TrainerCallback

    torch.set_num_threads(1)

    class KillAfterSave(TrainerCallback):
        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if Path(args.output_dir).name == phase and state.global_step >= int(kill_after):
                os.kill(os.getpid(), signal.SIGKILL)

    plain = common.logging_callbacks
    common.logging_callbacks = lambda *a, **k: [*plain(*a, **k), KillAfterSave()]
    train(trainer, Path(out_dir), model_path)


if __name__ == "__main__":
    main(*sys.argv[1:])
