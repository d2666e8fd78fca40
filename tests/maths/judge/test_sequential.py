"""The sequential tests against simulation (type-I error under continuous monitoring,
coverage of the confidence sequences, power) and against scipy's fixed-n binomial tail."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sloengine.maths.judge.sequential import (
    log_mixture_ratio,
    log_mixture_ratios,
    rate_confidence_sequence,
    relative_boundary,
    requests_to_decide,
    sequential_p_value,
)

ALPHA = 0.05  # large enough that a few thousand simulated streams measure it


def cumulative_bernoulli(
    rng: np.random.Generator, streams: int, looks: int, per_look: int, rate: float
) -> np.ndarray:
    """Bad events after each look (a look every `per_look` requests): (streams, looks)."""
    return np.cumsum(rng.binomial(per_look, rate, size=(streams, looks)), axis=1).astype(float)


def ever_rejected(bad: np.ndarray, totals: np.ndarray, p0: float, side: str) -> np.ndarray:
    logs = log_mixture_ratios(bad.ravel(), np.tile(totals, bad.shape[0]), p0, side)  # type: ignore[arg-type]
    return (logs.reshape(bad.shape) >= math.log(1 / ALPHA)).any(axis=1)


def test_absolute_test_keeps_alpha_under_continuous_looks_at_the_boundary() -> None:
    # The worst null: the canary's rate is exactly the threshold. 300 looks, 60 000 requests.
    rng = np.random.default_rng(1)
    streams, looks, per_look, p0 = 1000, 300, 200, 0.02
    bad = cumulative_bernoulli(rng, streams, looks, per_look, p0)
    totals = per_look * np.arange(1, looks + 1, dtype=float)
    rate = ever_rejected(bad, totals, p0, "above").mean()
    assert rate <= ALPHA, rate
    # The same looks with the fixed-n binomial test: false positives far over alpha.
    fixed = stats.binom.sf(bad - 1, totals, p0) < ALPHA
    assert fixed.any(axis=1).mean() > 3 * ALPHA


def test_below_test_keeps_alpha_when_the_canary_is_exactly_at_the_threshold() -> None:
    rng = np.random.default_rng(2)
    streams, looks, per_look, p0 = 2000, 200, 100, 0.05
    bad = cumulative_bernoulli(rng, streams, looks, per_look, p0)
    totals = per_look * np.arange(1, looks + 1, dtype=float)
    assert ever_rejected(bad, totals, p0, "below").mean() <= ALPHA


def test_relative_test_keeps_alpha_through_shared_outages() -> None:
    # A/A: canary at 10% of the traffic, both variants share the same time-varying error
    # rate (outages hit both). Conditional on the bad events the canary's share stays put.
    rng = np.random.default_rng(3)
    streams, looks = 1000, 360
    rate = np.full(looks, 0.005)
    rate[100:118] = 0.15
    rate[250:260] = 0.4
    canary_n, baseline_n = 20, 180  # requests per 10 s look
    kc = np.cumsum(rng.binomial(canary_n, rate, size=(streams, looks)), axis=1).astype(float)
    kb = np.cumsum(rng.binomial(baseline_n, rate, size=(streams, looks)), axis=1).astype(float)
    share = relative_boundary(canary_n, baseline_n, 1.0)
    events = kc + kb
    logs = log_mixture_ratios(kc.ravel(), events.ravel(), share, "above")
    rejected = (logs.reshape(kc.shape) >= math.log(1 / ALPHA)).any(axis=1)
    assert rejected.mean() <= ALPHA


def test_confidence_sequence_covers_the_true_rate_at_every_look() -> None:
    rng = np.random.default_rng(4)
    streams, looks, per_look, truth, alpha = 150, 20, 500, 0.03, 0.1
    bad = cumulative_bernoulli(rng, streams, looks, per_look, truth)
    missed = 0
    for row in bad:
        for i, k in enumerate(row):
            lo, hi = rate_confidence_sequence(k, per_look * (i + 1), alpha)
            if not lo <= truth <= hi:
                missed += 1
                break
    assert missed / streams <= alpha
    lo, hi = rate_confidence_sequence(300, 10_000, 0.01)
    assert lo < 0.03 < hi and hi - lo < 0.02


def test_sequential_p_value_is_never_below_the_fixed_n_binomial_tail() -> None:
    # Chernoff: the tail is <= 1 / (max likelihood ratio) <= 1 / (mixture) = the p-value.
    for n, k, p0 in ((300, 60, 0.02), (1000, 35, 0.02), (5000, 300, 0.05), (50, 50, 0.02)):
        p_seq = sequential_p_value(log_mixture_ratio(k, n, p0, "above"))
        assert p_seq >= stats.binom.sf(k - 1, n, p0)
        p_below = sequential_p_value(log_mixture_ratio(k, n, p0 * 3, "below"))
        assert p_below >= stats.binom.cdf(k, n, p0 * 3)


def test_blatant_breaches_are_detected_after_a_few_hundred_requests() -> None:
    # 20% errors against a 2% threshold: 60 s at 5 rps is 300 requests.
    rng = np.random.default_rng(5)
    bad = cumulative_bernoulli(rng, 1000, 30, 10, 0.2)
    totals = 10 * np.arange(1, 31, dtype=float)
    logs = log_mixture_ratios(bad.ravel(), np.tile(totals, 1000), 0.02, "above")
    first = np.argmax(logs.reshape(bad.shape) >= math.log(1 / 0.0033), axis=1)
    assert np.all(logs.reshape(bad.shape)[:, -1] >= math.log(1 / 0.0033))
    assert np.percentile(totals[first], 99) <= 150


def test_requests_to_decide_is_where_the_test_decides() -> None:
    n = requests_to_decide(0.005, 100, 0.02, 0.01)
    assert n is not None
    assert log_mixture_ratio(0.005 * n, n, 0.02, "below") >= math.log(100)
    assert log_mixture_ratio(0.005 * n * 0.8, n * 0.8, 0.02, "below") < math.log(100)
    assert requests_to_decide(0.02, 100, 0.02, 0.01) is None


def test_bad_arguments_are_value_errors() -> None:
    with pytest.raises(ValueError, match="p0"):
        log_mixture_ratio(1, 10, 0.0, "above")
    with pytest.raises(ValueError, match="bad"):
        log_mixture_ratio(11, 10, 0.5, "above")
    assert log_mixture_ratio(0, 0, 0.5, "above") == 0.0
