"""A short implicit training in each process of an ``accelerate launch``, noting which processes
take part in saving the adapter (``Trainer.save_model``, collective under ZeRO-3 and FSDP).

Usage: ``accelerate launch --num_processes 2 ... tests/collective_save_child.py OUT_DIR MODEL_PATH``;
each process appends its rank, the folder it saves and whether FSDP shards the model to
``OUT_DIR/save_model.ranks``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from trainer_fixtures import colour_records  # noqa: E402

from harness.plugins.trainers.implicit import ImplicitTrainer  # noqa: E402
from harness.records import ModelRef  # noqa: E402

#: 16 records, 4 per process step, one epoch: 2 optimizer steps with 2 processes
SHARED: dict[str, Any] = {"epochs": 1, "batch_size": 4, "gradient_accumulation_steps": 1,
                          "learning_rate": 1e-3,
                          "lora_dropout": 0.0, "target_modules": "all-linear", "seed": 0}


def main(out_dir: str, model_path: str) -> None:
    import torch
    from transformers import Trainer

    torch.set_num_threads(1)
    save_model = Trainer.save_model

    def noted(self: Any, *args: Any, **kwargs: Any) -> Any:
        with open(Path(out_dir) / "save_model.ranks", "a") as log:
            folder = Path(args[0] if args else kwargs["output_dir"]).name
            log.write(f"{os.environ.get('RANK', '0')} {folder} fsdp={self.is_fsdp_enabled}\n")
        return save_model(self, *args, **kwargs)

    Trainer.save_model = noted
    records = colour_records(16)
    ImplicitTrainer(lam=1.0, lm_on="all", **SHARED).train(ModelRef(base=model_path), records, Path(out_dir))


if __name__ == "__main__":
    main(*sys.argv[1:])
