"""The load test's pass/fail judgement: trends over the last N intervals, not single points."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from loadtests.expressions import parse_expression, parse_thresholds
from loadtests.thresholds import (
    IntervalStats,
    default_thresholds,
    judge_endpoint,
    judge_run,
    round_ms,
    summary_lines,
)

LIMITS = default_thresholds(p95_limit_seconds=1.5, error_ratio_limit=0.01).limits_for("any")


def interval(latency_ms: float, n: int = 100, errors: int = 0) -> IntervalStats:
    return IntervalStats.of([latency_ms] * n, errors=errors)


def judge(name: str, ivs: list[IntervalStats], last: int = 4):  # type: ignore[no-untyped-def]
    return judge_endpoint(name, ivs, LIMITS, last_intervals=last)


def test_percentile_is_nearest_rank() -> None:
    assert IntervalStats().percentile_ms(0.95) is None
    assert IntervalStats.of([float(i) for i in range(1, 101)]).percentile_ms(0.95) == 95.0
    assert IntervalStats.of([3.0]).percentile_ms(0.95) == 3.0


def test_latencies_round_like_locust() -> None:
    assert [round_ms(x) for x in (0.4, 47.6, 147.0, 1549.0)] == [0, 48, 150, 1500]


def test_one_slow_interval_does_not_fail_the_run() -> None:
    ivs = [interval(100), interval(100), interval(3000), interval(100), interval(100)]
    assert judge("GET /search", ivs).ok


def test_sustained_slowness_fails_with_the_reason() -> None:
    ivs = [interval(100)] * 3 + [interval(2000)] * 4
    j = judge("GET /search", ivs)
    assert not j.ok
    assert j.breaches == ("p(95)<1500 failed: p(95) 2000 ms (median over last 4 intervals)",)


def test_early_slowness_is_forgiven_once_the_trend_recovers() -> None:
    ivs = [interval(2000)] * 5 + [interval(200)] * 4
    assert judge("GET /docs/{id}", ivs).ok


def test_error_ratio_is_pooled_over_the_window() -> None:
    # 3 errors in 400 requests is 0.75%: under 1% even though one interval alone is 3%.
    ivs = [interval(100), interval(100), interval(100, errors=3), interval(100)]
    assert judge("POST /ingest", ivs).ok
    ivs[0] = interval(100, errors=2)
    j = judge("POST /ingest", ivs)
    assert j.breaches == ("rate<0.01 failed: error ratio 1.25% (5/400 over last 4 intervals)",)


def test_no_traffic_after_warmup_is_a_breach_not_a_pass() -> None:
    assert judge("GET /search", []).breaches == ("no requests after warm-up",)


def test_an_endpoint_named_by_a_threshold_but_never_called_breaches() -> None:
    thresholds = parse_thresholds({"http_req_duration{name:GET /typo}": ["p(95)<100"]})
    judgements = judge_run({"GET /search": [interval(10)]}, thresholds, last_intervals=3)
    assert [(j.endpoint, j.ok) for j in judgements] == [("GET /search", True), ("GET /typo", False)]
    assert summary_lines(judgements)[-1] == "thresholds breached by: GET /typo"


def test_rising_trend_is_reported() -> None:
    ivs = [interval(100 * k) for k in range(1, 5)]
    j = judge("GET /search", ivs)
    assert j.ok and j.p95_slope_ms_per_interval is not None
    assert abs(j.p95_slope_ms_per_interval - 100) < 1e-9
    assert summary_lines([j])[-1] == "all thresholds met"


def test_k6_aggregations_on_the_trend() -> None:
    ivs = [IntervalStats.of([10, 20, 30, 40, 1000]) for _ in range(3)]
    for expression, ok in [
        ("avg<300", True),  # 220 ms
        ("avg<200", False),
        ("med<=30", True),
        ("min>=10", True),
        ("max<1000", False),
        ("p(50)==30", True),
        ("p(99.9)!=1000", False),
    ]:
        limit = parse_expression(expression, "http_req_duration")
        j = judge_endpoint("GET /x", ivs, [limit], last_intervals=3)
        assert j.ok is ok, expression


def test_abort_on_fail_waits_for_its_delay() -> None:
    limit = parse_expression(
        "rate<0.05", "http_req_failed", abort_on_fail=True, delay_abort_eval_seconds=10
    )
    j = judge_endpoint("GET /x", [interval(10, errors=50)], [limit], last_intervals=3)
    assert not j.ok
    assert j.aborting(elapsed_seconds=9.9) == []
    assert [r.limit.expression for r in j.aborting(elapsed_seconds=10)] == ["rate<0.05"]


@given(
    st.lists(st.integers(min_value=0, max_value=5000), min_size=1, max_size=60),
    st.integers(min_value=1, max_value=99),
)
def test_merging_histograms_equals_one_histogram_of_everything(
    latencies: list[int], split_percent: int
) -> None:
    cut = len(latencies) * split_percent // 100
    a, b = IntervalStats.of(latencies[:cut]), IntervalStats.of(latencies[cut:])
    a.merge(b)
    whole = IntervalStats.of(latencies)
    for q in (0.5, 0.9, 0.95, 0.99, 1.0):
        assert a.percentile_ms(q) == whole.percentile_ms(q)
    assert a.requests == len(latencies)
