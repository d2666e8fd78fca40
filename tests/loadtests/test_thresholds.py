"""The load test's pass/fail judgement: trends over the last N intervals, not single points."""

from __future__ import annotations

from loadtests.thresholds import (
    IntervalStats,
    Thresholds,
    judge_endpoint,
    percentile,
    summary_lines,
)

LIMITS = Thresholds(p95_limit_seconds=1.5, error_ratio_limit=0.01, last_intervals=4)


def interval(latency_s: float, n: int = 100, errors: int = 0) -> IntervalStats:
    return IntervalStats(latencies_seconds=[latency_s] * n, errors=errors)


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.95) is None
    assert percentile([float(i) for i in range(1, 101)], 0.95) == 95.0
    assert percentile([3.0], 0.95) == 3.0


def test_one_slow_interval_does_not_fail_the_run() -> None:
    ivs = [interval(0.1), interval(0.1), interval(3.0), interval(0.1), interval(0.1)]
    assert judge_endpoint("GET /search", ivs, LIMITS).ok


def test_sustained_slowness_fails_with_the_reason() -> None:
    ivs = [interval(0.1)] * 3 + [interval(2.0)] * 4
    j = judge_endpoint("GET /search", ivs, LIMITS)
    assert not j.ok
    assert j.breaches == ("p95 2000 ms >= 1500 ms (median over last 4 intervals)",)


def test_early_slowness_is_forgiven_once_the_trend_recovers() -> None:
    ivs = [interval(2.0)] * 5 + [interval(0.2)] * 4
    assert judge_endpoint("GET /docs/{id}", ivs, LIMITS).ok


def test_error_ratio_is_pooled_over_the_window() -> None:
    # 3 errors in 400 requests is 0.75%: under 1% even though one interval alone is 3%.
    ivs = [interval(0.1), interval(0.1), interval(0.1, errors=3), interval(0.1)]
    assert judge_endpoint("POST /ingest", ivs, LIMITS).ok
    ivs[0] = interval(0.1, errors=2)
    j = judge_endpoint("POST /ingest", ivs, LIMITS)
    assert j.breaches == ("error ratio 1.25% >= 1.00% (5/400 over last 4 intervals)",)


def test_no_traffic_after_warmup_is_a_breach_not_a_pass() -> None:
    assert judge_endpoint("GET /search", [], LIMITS).breaches == ("no requests after warm-up",)


def test_rising_trend_is_reported() -> None:
    ivs = [interval(0.1 * k) for k in range(1, 5)]
    j = judge_endpoint("GET /search", ivs, LIMITS)
    assert j.ok and j.p95_slope_seconds_per_interval is not None
    assert abs(j.p95_slope_seconds_per_interval - 0.1) < 1e-9
    assert summary_lines([j])[-1] == "all thresholds met"
