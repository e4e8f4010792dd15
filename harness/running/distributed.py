"""Several processes of one run (``accelerate launch`` / ``torchrun``): who writes, and waiting.

Under ``accelerate launch --multi_gpu --num_processes N -m harness.cli run ...`` every process
runs ``harness run``. Only the main process (``RANK`` 0) takes the run lock, runs the baseline
stages (generate, judge), writes the run folder, evaluates the trained models and reports. The
others wait until the baseline is judged, read their training records from the run folder, train
on their shard (transformers' ``Trainer`` shards the data and averages the gradients) and end.
On a machine without CUDA the processes talk over gloo, on the CPU.

Outside such a launch (no ``WORLD_SIZE`` above 1) nothing here imports accelerate or waits.
"""

from __future__ import annotations

import os
from typing import Any


def world_size() -> int:
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def is_main() -> bool:
    """Whether this is the process that writes the run folder (the only one outside a launch)."""
    return os.environ.get("RANK", "0") == "0"


def state() -> Any:
    """accelerate's ``PartialState``, on the CPU (gloo) where there is no CUDA device: a bare
    ``PartialState()`` would see no GPU and leave the processes unconnected."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def barrier() -> None:
    """Wait until every process of the launch is here (nothing to wait for outside one)."""
    if world_size() > 1:
        state().wait_for_everyone()
