"""The cluster (group) bootstrap against a brute-force one, and the example bootstrap left as it was.

The brute force follows the random stream documented in ``harness.statistics.bootstrap``: groups
numbered in order of first appearance (None: a group of its own), each group's examples in
ascending order; ``picks = default_rng(seed).integers(0, G, size=(R, G), dtype=int32)``;
resample r concatenates the examples of the groups ``picks[r]``. It then scores each resample
with the *plain* metric function, one resample at a time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Sequence

import numpy as np
import pytest

from harness.errors import HarnessError, InputError, ParameterError
from harness.plugins.metrics import (
    BUILTIN_METRICS,
    accuracy,
    accuracy_at_coverage,
    brier,
    ece,
    hle_calib_err,
    rms_calib_err,
)
from harness.statistics.bootstrap import (
    Resamples,
    bootstrap_ci,
    draw,
    paired_bootstrap_ci,
    percentile_interval,
    replicate_all,
    replicates,
)
from harness.statistics.scoring import paired_difference, score

Groups = Sequence[Hashable | None]


def brute_force_resamples(groups: Groups, resamples: int, seed: int) -> list[np.ndarray]:
    """The documented group stream, one Python loop at a time."""
    members: dict[Hashable, list[int]] = {}
    for i, key in enumerate(groups):
        members.setdefault(("own", i) if key is None else ("key", key), []).append(i)
    ordered = list(members.values())  # dicts keep insertion order: order of first appearance
    picks = np.random.default_rng(seed).integers(0, len(ordered), size=(resamples, len(ordered)),
                                                 dtype=np.int32)
    return [np.array([i for g in row for i in ordered[g]], dtype=np.int64) for row in picks.tolist()]


def brute_force_values(fn: Callable[..., float], confidence: np.ndarray, correct: np.ndarray,
                       rows: list[np.ndarray]) -> np.ndarray:
    out = []
    for idx in rows:
        try:
            out.append(float(fn(confidence[idx], correct[idx])))
        except (HarnessError, ValueError, ZeroDivisionError):
            out.append(np.nan)  # undefined on this resample, as the bootstrap leaves it
    return np.array(out)


def data(n: int, seed: int = 0, percent: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    confidence = rng.beta(5, 2, n)
    if percent:
        confidence = np.round(confidence * 100) / 100  # many ties
    return confidence, rng.random(n) < confidence * 0.7


def equal_groups(n: int, size: int = 3) -> list[str]:
    return [f"e{i // size}" for i in range(n)]


def unequal_groups(n: int, seed: int = 1) -> list[Hashable | None]:
    """Groups of 1 to 6 examples, interleaved (not contiguous), some keys None, mixed key types."""
    rng = np.random.default_rng(seed)
    keys: list[Hashable | None] = []
    g = 0
    while len(keys) < n:
        size = int(rng.integers(1, 7))
        key: Hashable | None = None if size == 1 and g % 2 else (g if g % 3 else f"g{g}")
        keys += [key] * size
        g += 1
    keys = keys[:n]
    order = rng.permutation(n)
    return [keys[i] for i in order]


# Every built-in metric (all have batched forms) and some of their parameters.
METRICS: dict[str, Callable[..., float]] = {
    **BUILTIN_METRICS,
    "rms_adaptive_p1": functools.partial(rms_calib_err, p="1", adaptive=True, beta=30),
    "rms_infty": functools.partial(rms_calib_err, p="infty", beta=25),
    "ece_15": functools.partial(ece, bins=15),
    "accuracy_at_half": functools.partial(accuracy_at_coverage, coverage=0.5),
    "hle_beta_20": functools.partial(hle_calib_err, beta=20),
    "hle_p1_beta_15": functools.partial(hle_calib_err, p="1", beta=15),
}
HLE = {"hle_calib_err", "hle_beta_20", "hle_p1_beta_15"}


@pytest.mark.parametrize("kind", ["equal", "unequal"])
def test_the_group_draw_is_the_documented_stream(kind: str) -> None:
    n = 240
    groups = equal_groups(n) if kind == "equal" else unequal_groups(n)
    resamples = draw(n, 150, seed=11, groups=groups)
    expected = brute_force_resamples(groups, 150, seed=11)
    got = list(resamples.each())
    assert len(got) == resamples.size == 150 and resamples.n == n
    assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))
    assert resamples.unit == "group" and resamples.groups == len(set(_keys(groups)))
    if kind == "equal":  # one width: one matrix, as wide as the data
        assert resamples.width == n and resamples.indices.shape == (150, n)
        assert len(resamples.blocks()) == 1
    else:
        assert resamples.width is None
        widths = [block.width for block in resamples.blocks()]
        assert widths == sorted(set(widths)) and len(widths) > 1
        assert sorted(len(idx) for idx in expected) == sorted(
            w for block in resamples.blocks() for w in [block.width] * block.size
        )
        with pytest.raises(ValueError, match="several sizes"):
            resamples.indices  # noqa: B018


def _keys(groups: Groups) -> list[object]:
    return [("own", i) if key is None else key for i, key in enumerate(groups)]


@pytest.mark.parametrize("percent", [False, True])
@pytest.mark.parametrize("kind", ["equal", "unequal"])
def test_every_batched_metric_on_a_group_draw_equals_the_brute_force(kind: str, percent: bool) -> None:
    n = 300
    confidence, correct = data(n, seed=3, percent=percent)
    groups = equal_groups(n) if kind == "equal" else unequal_groups(n, seed=2)
    resamples = draw(n, 120, seed=5, groups=groups)
    rows = brute_force_resamples(groups, 120, seed=5)
    for name, metric in METRICS.items():
        if percent and name in HLE:
            continue  # HLE's unstable order of ties is not reproduced by the bootstrap (documented)
        fn = metric.func if isinstance(metric, functools.partial) else metric
        assert callable(getattr(fn, "batched", None)), name
        expected = brute_force_values(metric, confidence, correct, rows)
        got = replicates(metric, confidence, correct, resamples)
        assert np.allclose(got, expected, rtol=1e-9, atol=1e-12, equal_nan=True), name
        assert np.isfinite(got).sum() > 100 or name == "hle_calib_err", name


def test_a_resample_smaller_than_hle_beta_is_left_out_not_an_error() -> None:
    n = 110  # just above beta = 100: some resamples of unequal groups fall below it
    confidence, correct = data(n, seed=4)
    groups = unequal_groups(n, seed=3)
    resamples = draw(n, 200, seed=1, groups=groups)
    rows = brute_force_resamples(groups, 200, seed=1)
    got = replicates(hle_calib_err, confidence, correct, resamples)
    expected = brute_force_values(hle_calib_err, confidence, correct, rows)
    assert np.allclose(got, expected, equal_nan=True)
    small = np.array([len(idx) < 100 for idx in rows])
    assert small.any() and (~small).any()
    assert np.isnan(got[small]).all() and np.isfinite(got[~small]).all()
    reps = replicate_all({"hle": hle_calib_err}, [(confidence, correct)], resamples, max_elements=500)
    assert np.allclose(reps["hle"][0], expected, equal_nan=True)


def test_chunked_scoring_of_unequal_resamples_puts_every_value_back_in_resample_order() -> None:
    n = 200
    confidence, correct = data(n, seed=6)
    resamples = draw(n, 90, seed=2, groups=unequal_groups(n, seed=4))
    whole = {name: np.stack([replicates(m, confidence, correct, resamples)]) for name, m in METRICS.items()}
    for max_elements in (1, 700, 10**9):
        chunked = replicate_all(METRICS, [(confidence, correct)], resamples, max_elements=max_elements)
        for name in METRICS:
            assert np.allclose(whole[name], chunked[name], atol=1e-12, equal_nan=True), (name, max_elements)
    chunks = resamples.chunks(700)
    assert sorted(r for chunk in chunks for r in chunk.rows.tolist()) == list(range(90))
    assert all(chunk.width is not None and chunk.size * chunk.width <= 700 for chunk in chunks)


def test_a_metric_without_a_batched_form_is_looped_over_the_same_group_resamples() -> None:
    def plain_auroc_like(confidence: np.ndarray, correct: np.ndarray) -> float:
        if correct.all() or not correct.any():
            raise ValueError("one class only")
        return float(np.mean(confidence[correct]) - np.mean(confidence[~correct]))

    n = 150
    confidence, correct = data(n, seed=8)
    groups = unequal_groups(n, seed=5)
    expected = brute_force_values(plain_auroc_like, confidence, correct, brute_force_resamples(groups, 80, 3))
    got = replicates(plain_auroc_like, confidence, correct, draw(n, 80, seed=3, groups=groups))
    assert np.allclose(got, expected, rtol=1e-12, equal_nan=True)


def test_without_groups_the_example_draw_is_bit_identical_to_before() -> None:
    # Pinned from the version before groups existed: stored results depend on this stream.
    assert draw(10, 4, seed=7).indices.tolist() == [
        [9, 6, 6, 8, 5, 7, 8, 2, 0, 3],
        [2, 8, 9, 0, 4, 8, 1, 7, 1, 4],
        [8, 3, 3, 2, 7, 2, 9, 4, 4, 5],
        [5, 5, 5, 9, 8, 7, 7, 6, 3, 9],
    ]
    for n, r, seed in [(10, 4, 7), (600, 300, 5), (4326, 20, 1)]:
        resamples = draw(n, r, seed)
        expected = np.random.default_rng(seed).integers(0, n, size=(r, n), dtype=np.int32)
        assert resamples.indices.dtype == np.int32 and np.array_equal(resamples.indices, expected)
        assert (resamples.unit, resamples.groups, resamples.width, resamples.n) == ("example", None, n, n)
    confidence, correct = data(600, seed=0)
    confidence = np.clip(confidence, 0, 1)
    result = score(confidence, correct, resamples=300, seed=5)
    assert score(confidence, correct, resamples=300, seed=5, groups=None) == result
    assert result["bootstrap"] == {
        "resamples": 300, "seed": 5, "level": 0.95, "unit": "example", "groups": None
    }
    pinned = {  # score() of this data before groups existed
        "accuracy": [0.452375, 0.5333333333333333],
        "auroc": [0.5813666793212454, 0.6717406768153164],
        "rms_calib_err": [0.19459413821955088, 0.2760490102822288],
        "hle_calib_err": [0.15358162141782206, 0.23022766789840404],
        "aurc": [0.3837052133793598, 0.4861370781908869],
    }
    for name, ci in pinned.items():
        assert result["metrics"][name]["ci"] == pytest.approx(ci, rel=1e-12, abs=1e-15), name


@pytest.mark.parametrize("keys", ["none", "distinct"])
def test_every_group_a_singleton_is_the_example_bootstrap(keys: str) -> None:
    # Not only the same distribution: with G = n singletons in example order, the picks are
    # drawn exactly as the example indices are, so the same seed gives the same resamples.
    n = 500
    groups: list[Hashable | None] = [None] * n if keys == "none" else [f"q{i}" for i in range(n)]
    grouped, plain = draw(n, 200, seed=9, groups=groups), draw(n, 200, seed=9)
    assert grouped.groups == n and grouped.unit == "group"
    assert np.array_equal(grouped.indices, plain.indices)
    confidence, correct = data(n, seed=1)
    a = score(confidence, correct, resamples=200, seed=9, groups=groups)
    b = score(confidence, correct, resamples=200, seed=9)
    assert a["bootstrap"]["unit"] == "group" and a["bootstrap"]["groups"] == n
    assert {k: v["ci"] for k, v in a["metrics"].items()} == {k: v["ci"] for k, v in b["metrics"].items()}


def correlated(entities: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """3 questions per entity whose correctness is shared by the entity, up to 10% noise."""
    rng = np.random.default_rng(seed)
    known = np.repeat(rng.random(entities) < 0.6, 3)
    correct = np.where(rng.random(3 * entities) < 0.1, ~known, known)
    confidence = np.clip(rng.normal(0.75, 0.1, 3 * entities), 0, 1)
    return confidence, correct, [f"e{i // 3}" for i in range(3 * entities)]


def test_on_correlated_groups_the_cluster_interval_of_accuracy_is_wider() -> None:
    confidence, correct, groups = correlated(400)
    example = bootstrap_ci(accuracy, confidence, correct, resamples=1000, seed=0)
    cluster = bootstrap_ci(accuracy, confidence, correct, resamples=1000, seed=0, groups=groups)
    assert example is not None and cluster is not None
    # Intra-entity correlation ~0.64: the variance grows by about 1 + 2 * 0.64, the width by ~1.5.
    ratio = (cluster[1] - cluster[0]) / (example[1] - example[0])
    assert 1.3 < ratio < 1.8
    # score() says which unit it resampled, and how many groups.
    result = score(confidence, correct, ["accuracy"], resamples=1000, seed=0, groups=groups)
    assert result["bootstrap"]["unit"] == "group" and result["bootstrap"]["groups"] == 400
    assert result["metrics"]["accuracy"]["ci"] == cluster


def test_score_with_groups_is_the_brute_force_percentile_interval() -> None:
    n = 360
    confidence, correct = data(n, seed=12)
    groups = unequal_groups(n, seed=6)
    rows = brute_force_resamples(groups, 250, seed=4)
    result = score(confidence, correct, resamples=250, seed=4, groups=groups)
    for name, entry in result["metrics"].items():
        expected = percentile_interval(brute_force_values(BUILTIN_METRICS[name], confidence, correct, rows))
        assert entry["ci"] == pytest.approx(expected, rel=1e-9, abs=1e-12), name


@pytest.mark.parametrize("kind", ["equal", "unequal"])
def test_a_paired_difference_with_groups_is_the_brute_force_one(kind: str) -> None:
    n = 330
    base = data(n, seed=13)
    rng = np.random.default_rng(1)
    trained = (np.clip(base[0] - 0.15 + rng.normal(0, 0.05, n), 0, 1), base[1] ^ (rng.random(n) < 0.05))
    groups = equal_groups(n) if kind == "equal" else unequal_groups(n, seed=7)
    rows = brute_force_resamples(groups, 300, seed=8)
    names = ["rms_calib_err", "accuracy", "auroc", "ece", "brier", "aurc", "hle_calib_err"]
    out = paired_difference(*base, *trained, names, resamples=300, seed=8, groups=groups)
    for name in names:
        fn = BUILTIN_METRICS[name]
        diff = brute_force_values(fn, *trained, rows) - brute_force_values(fn, *base, rows)
        expected = percentile_interval(diff)
        assert out[name]["ci"] == pytest.approx(expected, rel=1e-9, abs=1e-12), name
        assert set(out[name]) == {"a", "b", "diff", "ci", "error"}  # the shape is unchanged
        ci = paired_bootstrap_ci(fn, *base, *trained, resamples=300, seed=8, groups=groups)
        assert ci == pytest.approx(expected, rel=1e-9, abs=1e-12), name
    # Paired: both runs use one draw, so an unchanged run differs by exactly zero on every resample.
    same = paired_difference(*base, *base, ["accuracy", "rms_calib_err"], resamples=100, groups=groups)
    assert same["accuracy"]["ci"] == [0.0, 0.0] and same["rms_calib_err"]["ci"] == [0.0, 0.0]


def test_groups_are_checked() -> None:
    confidence, correct = data(30)
    with pytest.raises(InputError, match="one key per example: 29 keys for 30"):
        draw(30, 10, groups=equal_groups(29))
    with pytest.raises(InputError, match="one key per example"):
        score(confidence, correct, ["accuracy"], groups=equal_groups(31))  # even with no resamples
    with pytest.raises(InputError, match="one key per example"):
        paired_difference(confidence, correct, confidence, correct, ["accuracy"], groups=["a"])
    with pytest.raises(InputError, match="hashable"):
        draw(3, 10, groups=[["a"], ["a"], ["b"]])
    with pytest.raises(ParameterError, match="already drawn"):
        bootstrap_ci(accuracy, confidence, correct, resamples=draw(30, 10), groups=equal_groups(30))
    with pytest.raises(ValueError, match="blocks"):
        Resamples(None)


def test_a_single_group_gives_the_whole_data_every_time() -> None:
    confidence, correct = data(40)
    resamples = draw(40, 25, seed=0, groups=["one"] * 40)
    assert resamples.groups == 1 and np.array_equal(resamples.indices, np.tile(np.arange(40), (25, 1)))
    assert bootstrap_ci(brier, confidence, correct, resamples=resamples) == [brier(confidence, correct)] * 2
