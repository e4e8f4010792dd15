"""Outcomes for the abstention tests (``test_abstention.py``, ``test_check.py``)."""

from __future__ import annotations

import numpy as np

from harness.statistics.outcomes import Outcome


def calibrated(n: int = 600, seed: int = 0) -> list[Outcome]:
    """A calibrated model: confidence uniform on [0, 1], right with that probability; groups of 3."""
    rng = np.random.default_rng(seed)
    conf = rng.uniform(0, 1, n)
    right = rng.random(n) < conf
    return [Outcome(example_id=f"q{i:04d}", grade="correct" if r else "incorrect", confidence=float(c),
                    group=f"g{i // 3}") for i, (c, r) in enumerate(zip(conf, right, strict=True))]
