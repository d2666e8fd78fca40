"""The judge's edges: dual signal, zero baselines, no data, low traffic, latency buckets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS as BOUNDS
from sloengine.maths.judge import (
    EMPTY,
    ErrorRatioGuard,
    LatencyQuantileGuard,
    Observation,
    VariantWindow,
    Verdict,
    evaluate_guard,
    histogram_quantile,
    judge,
    min_samples_to_bound_ratio,
)
from sloengine.maths.judge.stats import rate_increase_test

SHORT, LONG = 300.0, 3600.0


def windows(requests: float, errors: float) -> tuple[VariantWindow, VariantWindow]:
    """Short and long window of a steady variant: the long one has 12x the short one."""
    return VariantWindow(requests, errors), VariantWindow(requests * 12, errors * 12)


def obs(canary: tuple[float, float], baseline: tuple[float, float]) -> Observation:
    cs, cl = windows(*canary)
    bs, bl = windows(*baseline)
    return Observation(cs, cl, bs, bl, SHORT, LONG)


def latency_window(seconds: np.ndarray) -> VariantWindow:
    """A histogram on the conventions' buckets from raw latencies."""
    edges = np.concatenate(([-np.inf], BOUNDS))
    counts = np.histogram(seconds, bins=np.concatenate((edges, [np.inf])))[0]
    return VariantWindow(
        float(len(seconds)), 0.0, tuple(BOUNDS), tuple(float(c) for c in counts[:-1])
    )


def latency_obs(canary: np.ndarray, baseline: np.ndarray) -> Observation:
    """The long window holds every latency, the short window the last sixth of them."""
    cs, bs = (
        latency_window(canary[-len(canary) // 6 :]),
        latency_window(baseline[-len(baseline) // 6 :]),
    )
    return Observation(cs, latency_window(canary), bs, latency_window(baseline), SHORT, LONG)


# --- error ratio ------------------------------------------------------------------------------


def test_zero_baseline_errors_still_detects_canary_errors() -> None:
    outcome = evaluate_guard(ErrorRatioGuard(), obs((1000, 61), (1000, 0)))
    assert outcome.verdict is Verdict.FAIL
    assert outcome.absolute_breached and outcome.relative_breached
    assert outcome.p_value < 1e-9
    assert all(math.isfinite(v) for v in (outcome.effect_size, outcome.p_value))
    assert outcome.reason.startswith("FAIL: error ratio 6.1% (5m) / 6.1% (1h) in canary vs 0")


def test_no_data_is_inconclusive_never_pass_or_fail() -> None:
    empty = Observation(EMPTY, EMPTY, EMPTY, EMPTY, SHORT, LONG)
    result = judge([(ErrorRatioGuard(), empty), (LatencyQuantileGuard(), empty)])
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "no canary data" in result.reason


def test_no_baseline_data_is_inconclusive() -> None:
    outcome = evaluate_guard(ErrorRatioGuard(), obs((1000, 100), (0, 0)))
    assert outcome.verdict is Verdict.INCONCLUSIVE
    assert "no baseline data" in outcome.reason


def test_low_traffic_blatant_errors_fail_fail_needs_evidence_not_volume() -> None:
    # 1 rps for 5 minutes, 20% errors: 60 errors in 300 requests prove a rate over 2%.
    young = Observation(
        VariantWindow(300, 60), VariantWindow(300, 60), *windows(5000, 5), SHORT, LONG
    )
    outcome = evaluate_guard(ErrorRatioGuard(), young)
    assert outcome.verdict is Verdict.FAIL, outcome.reason
    # Even 10 requests that all failed are evidence enough.
    all_failed = Observation(
        VariantWindow(10, 10), VariantWindow(10, 10), *windows(5000, 5), SHORT, LONG
    )
    assert evaluate_guard(ErrorRatioGuard(), all_failed).verdict is Verdict.FAIL


def test_low_traffic_clean_canary_is_inconclusive_saying_how_much_more_traffic() -> None:
    few = Observation(VariantWindow(30, 0), VariantWindow(30, 0), *windows(5000, 5), SHORT, LONG)
    outcome = evaluate_guard(ErrorRatioGuard(), few)
    assert outcome.verdict is Verdict.INCONCLUSIVE
    assert "more canary requests" in outcome.reason and "would decide" in outcome.reason
    assert outcome.min_samples > 30
    # With that many requests, still clean, the guard PASSes: PASS needs power.
    enough = VariantWindow(outcome.min_samples, 0)
    more = Observation(enough, enough, *windows(5000, 5), SHORT, LONG)
    assert evaluate_guard(ErrorRatioGuard(), more).verdict is Verdict.PASS


def test_only_absolute_breached_shared_outage_is_not_fail() -> None:
    outcome = evaluate_guard(ErrorRatioGuard(), obs((2000, 100), (20000, 1000)))
    assert outcome.absolute_breached and not outcome.relative_breached
    assert outcome.verdict is Verdict.PASS
    assert "shared problem" in outcome.reason


def test_only_relative_breached_under_threshold_is_not_fail() -> None:
    outcome = evaluate_guard(ErrorRatioGuard(), obs((10000, 150), (10000, 10)))
    assert outcome.relative_breached and not outcome.absolute_breached
    assert outcome.verdict is Verdict.PASS
    assert "under the threshold" in outcome.reason


def test_fail_needs_both_signals() -> None:
    outcome = evaluate_guard(ErrorRatioGuard(), obs((2000, 80), (20000, 300)))
    assert outcome.absolute_breached and outcome.relative_breached
    assert outcome.verdict is Verdict.FAIL


def test_absolute_signal_is_tested_on_the_whole_analysis() -> None:
    # A burst in the last 5 minutes only: over the hour the canary is still under 2%.
    cs, cl = VariantWindow(1000, 100), VariantWindow(12000, 110)
    bs, bl = windows(10000, 10)
    outcome = evaluate_guard(ErrorRatioGuard(), Observation(cs, cl, bs, bl, SHORT, LONG))
    assert not outcome.absolute_breached
    assert outcome.verdict is not Verdict.FAIL


def test_tiny_relative_effect_is_not_practical() -> None:
    # 10% vs 9%: significant with this much traffic but only 1.1x worse.
    outcome = evaluate_guard(ErrorRatioGuard(), obs((100000, 10000), (100000, 9000)))
    assert outcome.p_value < 1e-6
    assert not outcome.relative_breached
    assert outcome.verdict is Verdict.PASS


def test_burn_rate_guard_reports_values_in_burn_units() -> None:
    guard = ErrorRatioGuard(
        name="slo_burn:availability", max_ratio=10 * 0.001, value_scale=1000, unit="x"
    )
    outcome = evaluate_guard(guard, obs((5000, 100), (5000, 1)))
    assert outcome.verdict is Verdict.FAIL
    assert outcome.threshold == pytest.approx(10)
    assert outcome.canary_value_long == pytest.approx(20)
    assert "20x" in outcome.reason


def test_min_samples_to_bound_ratio_rule_of_three() -> None:
    assert min_samples_to_bound_ratio(0.02, 0.001) == 346  # ceil(ln(1000) / 0.02)
    assert min_samples_to_bound_ratio(0.05, 0.001) == 139
    assert min_samples_to_bound_ratio(0.01, 0.001) == 691
    with pytest.raises(ValueError):
        min_samples_to_bound_ratio(0.0, 0.001)


def test_rate_test_is_exact_for_zero_baseline() -> None:
    # 10 canary errors, none in the baseline, equal traffic: p = 0.5 ** 10.
    assert rate_increase_test(10, 1000, 0, 1000) == pytest.approx(0.5**10)
    assert rate_increase_test(0, 1000, 0, 1000) == 1.0


def test_young_canary_fails_as_soon_as_the_evidence_suffices() -> None:
    # Five minutes old: both windows hold the same 1000 requests; 6.1% errors is evidence.
    young = Observation(
        VariantWindow(1000, 61), VariantWindow(1000, 61), *windows(1000, 0), SHORT, LONG
    )
    outcome = evaluate_guard(ErrorRatioGuard(), young)
    assert outcome.absolute_breached and outcome.relative_breached
    assert outcome.verdict is Verdict.FAIL
    # 2.5% over 1000 requests is not yet evidence of a rate over 2%.
    unsure = Observation(
        VariantWindow(1000, 25), VariantWindow(1000, 25), *windows(1000, 0), SHORT, LONG
    )
    assert evaluate_guard(ErrorRatioGuard(), unsure).verdict is Verdict.INCONCLUSIVE


# --- latency ----------------------------------------------------------------------------------


def test_histogram_quantile_interpolates_like_prometheus() -> None:
    bounds = (0.5, 1.0, 2.0)
    # 100 requests: 50 in (0, 0.5], 40 in (0.5, 1], 10 in (1, 2].
    assert histogram_quantile(0.5, bounds, (50, 40, 10), 100) == pytest.approx(0.5)
    assert histogram_quantile(0.95, bounds, (50, 40, 10), 100) == pytest.approx(1.5)
    assert histogram_quantile(0.25, bounds, (50, 40, 10), 100) == pytest.approx(0.25)
    # Rank in the +Inf bucket: the last finite bound.
    assert histogram_quantile(0.99, bounds, (50, 40, 0), 100) == pytest.approx(2.0)
    assert histogram_quantile(0.5, bounds, (0, 0, 0), 0) == 0.0


def test_latency_p95_up_30_percent_across_threshold_fails() -> None:
    rng = np.random.default_rng(7)
    baseline = rng.lognormal(mean=math.log(0.5), sigma=0.55, size=20000)
    canary = rng.lognormal(mean=math.log(0.5), sigma=0.55, size=20000) * 1.3
    result = judge([(LatencyQuantileGuard(), latency_obs(canary, baseline))])
    outcome = result.guards[0]
    assert outcome.baseline_value_long < 1.5 < outcome.canary_value_long
    assert outcome.effect_size > 0.02  # share of requests slower than 1.5 s, canary - baseline
    assert result.verdict is Verdict.FAIL, result.reason


def test_slow_tail_with_unchanged_median_fails() -> None:
    # Issue 13, cause 1: 9.7% of the canary's requests over 1.5 s against 0.1%, same median.
    rng = np.random.default_rng(5)
    baseline = rng.lognormal(mean=math.log(0.3), sigma=0.5, size=20000)
    canary = rng.lognormal(mean=math.log(0.3), sigma=0.5, size=20000)
    slow = rng.random(canary.size) < 0.097
    canary[slow] = rng.uniform(1.6, 4.0, size=int(slow.sum()))
    result = judge([(LatencyQuantileGuard(), latency_obs(canary, baseline))])
    assert result.verdict is Verdict.FAIL, result.reason
    assert "slower" in result.reason


def test_latency_threshold_between_bounds_uses_the_bound_above() -> None:
    # 1.2 s is not a bucket bound: requests over 1.5 s are certainly over 1.2 s.
    window = latency_window(np.array([0.2] * 90 + [1.3] * 5 + [2.0] * 5))
    from sloengine.maths.judge.guards import slower_than

    assert slower_than(window, 1.2) == 5
    assert slower_than(window, 1.5) == 5
    assert slower_than(window, 1.0) == 10
    assert slower_than(window, 50.0) is None


def test_latency_same_distribution_passes() -> None:
    rng = np.random.default_rng(11)
    baseline = rng.lognormal(mean=math.log(0.5), sigma=0.55, size=20000)
    canary = rng.lognormal(mean=math.log(0.5), sigma=0.55, size=20000)
    assert judge([(LatencyQuantileGuard(), latency_obs(canary, baseline))]).verdict is Verdict.PASS


def test_latency_both_slow_is_not_fail() -> None:
    rng = np.random.default_rng(3)
    baseline = rng.lognormal(mean=math.log(1.4), sigma=0.4, size=20000)
    canary = rng.lognormal(mean=math.log(1.4), sigma=0.4, size=20000)
    outcome = judge([(LatencyQuantileGuard(), latency_obs(canary, baseline))]).guards[0]
    assert outcome.absolute_breached and not outcome.relative_breached
    assert outcome.verdict is Verdict.PASS


def test_latency_without_histogram_is_inconclusive() -> None:
    outcome = evaluate_guard(LatencyQuantileGuard(), obs((1000, 0), (1000, 0)))
    assert outcome.verdict is Verdict.INCONCLUSIVE
    assert "no latency histogram" in outcome.reason


# --- combining --------------------------------------------------------------------------------


def test_overall_fail_wins_then_inconclusive_then_pass() -> None:
    failing = obs((1000, 61), (1000, 0))
    healthy = obs((1000, 1), (1000, 1))
    low = obs((10, 0), (1000, 0))
    assert (
        judge([(ErrorRatioGuard(), failing), (ErrorRatioGuard(name="b"), low)]).verdict
        is Verdict.FAIL
    )
    assert (
        judge([(ErrorRatioGuard(), healthy), (ErrorRatioGuard(name="b"), low)]).verdict
        is Verdict.INCONCLUSIVE
    )
    assert judge([(ErrorRatioGuard(), healthy)]).verdict is Verdict.PASS
    assert judge([]).verdict is Verdict.INCONCLUSIVE


def test_invalid_counts_name_the_field() -> None:
    with pytest.raises(ValueError, match="errors"):
        VariantWindow(10, 11)
    with pytest.raises(ValueError, match="requests"):
        VariantWindow(float("nan"), 0)
