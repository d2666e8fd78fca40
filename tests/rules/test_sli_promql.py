"""SLIs as PromQL: every kind renders, parses, and never divides by zero traffic."""

from __future__ import annotations

import promql_parser
import pytest

from sloengine.generate.sli_promql import error_ratio_expr, events_exprs, format_number, le_matcher
from sloengine.model import EventsSLI, NativeSLI, RawSLI

AVAILABILITY = NativeSLI("availability", selector=(("route", "/search"), ("service", "gateway")))
LATENCY = NativeSLI("latency", selector=(("service", "gateway"),), latency_threshold_seconds=0.5)
GOOD = EventsSLI(
    total_query="sum(rate(orders_total[{{.window}}]))",
    good_query='sum(rate(orders_total{ok="1"}[{{.window}}]))',
)
RAW = RawSLI("1 - avg(avg_over_time(satisfaction_ratio[{{.window}}]))")


def test_native_availability_counts_5xx_over_all_requests_of_the_selector() -> None:
    assert events_exprs(AVAILABILITY, "5m") == (
        'sum(rate(http_requests_total{route="/search",service="gateway",status=~"5.."}[5m]))',
        'sum(rate(http_requests_total{route="/search",service="gateway"}[5m]))',
    )


def test_native_latency_errors_are_total_minus_the_threshold_bucket() -> None:
    errors, total = events_exprs(LATENCY, "1h") or ("", "")
    assert total == 'sum(rate(http_request_duration_seconds_count{service="gateway"}[1h]))'
    good = 'sum(rate(http_request_duration_seconds_bucket{service="gateway",le="0.5"}[1h]))'
    # No good series at all (every request too slow) is 0 good requests, not "no data".
    assert errors == f"({total}) - (({good}) or on() (0 * ({total})))"


def test_whole_second_bounds_match_both_client_spellings() -> None:
    assert le_matcher(1.0) == ("le", "=~", "1(\\.0)?")
    assert le_matcher(0.25) == ("le", "=", "0.25")


def test_raw_sli_has_no_events() -> None:
    assert events_exprs(RAW, "5m") is None


@pytest.mark.parametrize(
    "sli", [AVAILABILITY, LATENCY, GOOD, RAW], ids=["availability", "latency", "good", "raw"]
)
def test_every_error_ratio_parses_and_guards_against_zero_traffic(
    sli: NativeSLI | EventsSLI | RawSLI,
) -> None:
    expr = error_ratio_expr(sli, "30m")
    promql_parser.parse(expr)
    assert "{{.window}}" not in expr and "[30m]" in expr
    # Events ratios divide by `total > 0` (no sample at 0/0); raw ratios drop NaN and Inf.
    assert "> 0)" in expr or ">= 0) < +Inf" in expr


def test_numbers_are_stable_and_free_of_float_noise() -> None:
    assert format_number(1 - 0.999) == "0.001"
    assert format_number(14.4) == "14.4"
    assert format_number(6.0) == "6"
