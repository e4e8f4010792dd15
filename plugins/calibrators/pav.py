"""Pool adjacent violators: the weighted least-squares non-decreasing fit of a sequence.

The one implementation in the project, shared by the ``isotonic`` calibrator (on the
distinct confidences) and the ``histogram`` one (on its bins, with ``monotone = true``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pool_adjacent_violators(values: Sequence[float], weights: Sequence[float]) -> np.ndarray:
    """The weighted least-squares non-decreasing fit to ``values`` (in their order).

    A block of weight zero (an empty bin) takes the value of the block it is pooled with;
    two such blocks pool to their plain mean.
    """
    blocks: list[list[float]] = []  # [mean, weight, length]
    for value, weight in zip(values, weights, strict=True):
        blocks.append([float(value), float(weight), 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, n2 = blocks.pop()
            v1, w1, n1 = blocks.pop()
            total = w1 + w2
            mean = (v1 * w1 + v2 * w2) / total if total > 0 else (v1 + v2) / 2
            blocks.append([mean, total, n1 + n2])
    return np.array([mean for mean, _, length in blocks for _ in range(int(length))], dtype=float)
