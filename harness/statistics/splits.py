"""Selecting and splitting examples: seeded, and keeping each group on one side.

An example's ``group`` (for ``facts``, the entity it asks about) never straddles the
train/test split, so a held-out question never shares its subject with a training one.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from harness.errors import InputError
from harness.records import Example


def select(examples: Sequence[Example], limit: int | None, seed: int) -> list[Example]:
    """``limit`` examples drawn with ``seed`` (all of them when ``limit`` is None)."""
    if limit is None or limit >= len(examples):
        return list(examples)
    rng = random.Random(f"select-{seed}")
    chosen = set(rng.sample(range(len(examples)), limit))
    return [e for i, e in enumerate(examples) if i in chosen]


def group_split(
    examples: Sequence[Example], test_size: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """(train, test): whole groups go to the test side until it holds ``test_size`` of them."""
    groups: dict[str, list[Example]] = {}
    for example in examples:
        groups.setdefault(example.group or example.id, []).append(example)
    keys = sorted(groups)
    random.Random(f"split-{seed}").shuffle(keys)
    target = test_size * len(examples)
    test_keys: set[str] = set()
    count = 0
    for key in keys:
        if count >= target:
            break
        test_keys.add(key)
        count += len(groups[key])
    train = [e for e in examples if (e.group or e.id) not in test_keys]
    test = [e for e in examples if (e.group or e.id) in test_keys]
    if not train or not test:
        raise InputError(
            f"cannot split {len(examples)} examples in {len(groups)} group(s) into train and test; "
            "use more examples (--limit) or another --test-size"
        )
    return train, test


def question_key(example: Example) -> str:
    """A short digest of a question's normalised text: what two tasks share if they share a question."""
    import hashlib

    text = " ".join(example.question.lower().split())
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def group_folds(groups: Sequence[str], folds: int, seed: int) -> list[int]:
    """Each item's fold (0 .. ``folds - 1``) for grouped K-fold cross-fitting: every item of a
    group lands in one fold; the groups are shuffled with ``seed`` and each goes to the fold
    holding the fewest items so far, so the folds are near equal in size. With fewer groups than
    ``folds``, only that many folds are used."""
    if folds < 2:
        raise InputError(f"cross-fitting needs at least 2 folds, got {folds}")
    sizes: dict[str, int] = {}
    for group in groups:
        sizes[group] = sizes.get(group, 0) + 1
    keys = sorted(sizes)
    random.Random(f"folds-{seed}").shuffle(keys)
    filled = [0] * min(folds, len(keys))
    fold_of: dict[str, int] = {}
    for key in keys:
        fold = min(range(len(filled)), key=lambda k: (filled[k], k))
        fold_of[key] = fold
        filled[fold] += sizes[key]
    return [fold_of[g] for g in groups]
