"""Statistics across seeds: exact t quantiles and binomial intervals, the sign-flip test, Holm,
intervals that respect a metric's range, and the two-level interval
(checked against scipy and hand values)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.statistics.seed_statistics import (
    beta_cdf,
    clopper_pearson,
    holm,
    positive_mean_interval,
    sign_flip_test,
    t_interval,
    t_quantile,
    two_level_interval,
)

stats = pytest.importorskip("scipy.stats")


def test_the_t_quantile_is_exact_for_every_df_from_1_to_200():
    for df in range(1, 201):
        for p in (0.975, 0.995, 0.9, 0.6, 0.025):
            assert t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-9, abs=1e-12), (df, p)


def test_the_t_quantile_beyond_any_table_is_not_the_normal_one():
    assert t_quantile(0.975, 40) == pytest.approx(2.021075, abs=1e-6)  # a table stopping at 30 says 1.96
    assert t_quantile(0.975, 1e7) == pytest.approx(1.959964, abs=1e-5)
    assert t_quantile(0.5, 3) == 0.0
    with pytest.raises(ValueError):
        t_quantile(1.0, 3)


def test_the_incomplete_beta_matches_scipy():
    for x, a, b in [(0.3, 2, 5), (0.9, 0.5, 0.5), (0.01, 30, 2), (0.99, 1, 200)]:
        assert beta_cdf(x, a, b) == pytest.approx(stats.beta.cdf(x, a, b), rel=1e-10)


@pytest.mark.parametrize("n", [1, 2, 3, 10, 37])
def test_clopper_pearson_matches_scipys_beta_quantiles(n):
    for k in range(n + 1):
        low, high = clopper_pearson(k, n)
        assert low == pytest.approx(stats.beta.ppf(0.025, k, n - k + 1) if k else 0.0, abs=1e-12)
        assert high == pytest.approx(stats.beta.ppf(0.975, k + 1, n - k) if k < n else 1.0, abs=1e-12)


def test_clopper_pearson_by_hand():
    # 0 of n: the upper bound solves (1 - p)^n = 0.025
    assert clopper_pearson(0, 10) == pytest.approx([0.0, 1 - 0.025 ** (1 / 10)])
    # 7 of 10 and 3 of 10 (README's brier vs explicit) overlap widely
    assert clopper_pearson(7, 10) == pytest.approx([0.3475471, 0.9332605], abs=1e-6)
    assert clopper_pearson(3, 10)[1] > clopper_pearson(7, 10)[0]
    assert clopper_pearson(0, 0) is None


def test_the_sign_flip_test_is_exact_on_a_hand_case():
    # sums of the 8 sign patterns of (1, 2, 3): ±6, ±4, ±2, 0, 0: two reach |6|
    assert sign_flip_test([1.0, 2.0, 3.0]) == {"p": 0.25, "n": 3, "exact": True, "patterns": 8}
    # five seeds all the same way: only the two all-same patterns are as extreme
    assert sign_flip_test([0.1, 0.2, 0.05, 0.3, 0.01])["p"] == pytest.approx(2 / 32)
    # ties with the observed |sum| count: ±1 ±1 ±2 gives 4, 0, 2, -2, 2, -2, 0, -4; six reach |2|
    assert sign_flip_test([1.0, -1.0, 2.0])["p"] == pytest.approx(6 / 8)


def test_the_sign_flip_test_samples_beyond_sixteen_seeds():
    result = sign_flip_test([0.1] * 20)
    # 2 of 2^20 patterns are as extreme: sampled, (1 + hits) / (1 + 20,000) is about 1 / 20,001
    assert not result["exact"] and result["patterns"] == 20_000
    assert 1 / 20_001 <= result["p"] < 5 / 20_001


def test_holm_on_a_hand_case():
    # sorted 0.01, 0.03, 0.04 -> 3 x 0.01, 2 x 0.03, max(0.06, 1 x 0.04): monotone step-down
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_a_non_negative_metrics_interval_never_goes_below_zero():
    ece = [0.226, 0.268]  # the 2-seed case whose t-interval read [-0.019, 0.513]
    assert t_interval(ece)[0] < 0
    low, high = positive_mean_interval(ece)
    assert 0 < low < sum(ece) / 2 < high
    assert positive_mean_interval([0.0, 0.0, 0.02])[0] > 0  # HLE's error is 0.0 at 100 <= n < 200
    assert positive_mean_interval([0.0, 0.0]) == [0.0, 0.0]
    rng = np.random.default_rng(1)
    for _ in range(200):
        values = list(rng.exponential(0.05, size=int(rng.integers(2, 6))))
        assert positive_mean_interval(values)[0] > 0


def test_the_log_scale_interval_is_the_delta_method():
    values = [0.1, 0.2, 0.3]
    mean, sd = 0.2, 0.1
    spread = stats.t.ppf(0.975, 2) * sd / (mean * math.sqrt(3))
    expected = [mean * math.exp(-spread), mean * math.exp(spread)]
    assert positive_mean_interval(values) == pytest.approx(expected)


def test_the_two_level_interval_holds_both_levels_of_variation():
    rng = np.random.default_rng(0)
    tight = [rng.normal(mu, 0.001, 1000) for mu in (-0.05, -0.04, -0.06)]
    wide = [rng.normal(mu, 0.05, 1000) for mu in (-0.05, -0.04, -0.06)]
    t_low, t_high = two_level_interval(tight)
    w_low, w_high = two_level_interval(wide)
    assert -0.06 <= t_low < t_high <= -0.04  # seeds alone: within the seeds' means
    assert w_high - w_low > t_high - t_low  # the within-seed spread widens it
    assert two_level_interval([np.array([0.1])]) is None
    assert two_level_interval([np.array([0.1, np.nan]), np.array([0.3])]) == pytest.approx([0.1, 0.3])
