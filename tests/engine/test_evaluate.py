"""evaluate_slo: per-window burn rates, budget and alerts from pushed series."""

from __future__ import annotations

import math

from sloengine.engine.evaluate import (
    WindowCounts,
    evaluate_slo,
    status_from_windows,
    status_windows,
)
from sloengine.ingest import decode_push
from sloengine.model import SLO, Alerting, NativeSLI, SeverityAlert
from sloengine.specs.policy import builtin_policy
from sloengine.store import SeriesStore
from tests.store.streams import T0, Sample, push_request

POLICY = builtin_policy("sre-workbook-30d")
AVAILABILITY = SLO(
    "gateway",
    "availability",
    0.999,
    NativeSLI("availability", (("service", "gateway"), ("variant", "canary"))),
)
LATENCY = SLO(
    "gateway",
    "latency",
    0.99,
    NativeSLI("latency", (("service", "gateway"),), latency_threshold_seconds=0.25),
)


def store_with(samples: list[Sample]) -> SeriesStore:
    store = SeriesStore()
    batch = decode_push(
        push_request("p", 1, samples), now_s=T0, max_age_s=math.inf, max_future_s=math.inf
    )
    store.apply(batch)
    return store


def test_windows_are_the_policy_windows_plus_the_period() -> None:
    assert status_windows(AVAILABILITY, POLICY) == (
        300,
        1800,
        3600,
        7200,
        21600,
        86400,
        259200,
        2592000,
    )


def test_a_fast_burn_fires_the_page_alert_only() -> None:
    # 100k requests an hour without errors for 29 days, then 5 minutes at 2% errors.
    samples = [
        Sample(0, (T0 - 86400 * 29 + 60 * m + 1800) * 1000, 100_000, 0, 1000)
        for m in range(0, 29 * 1440, 60)
    ]
    samples += [Sample(0, (T0 - 300 + 60 * m) * 1000, 1000, 20, 1000) for m in range(1, 6)]
    store = store_with(samples)
    status = evaluate_slo(AVAILABILITY, POLICY, store, T0)
    five = status.window(300)
    assert five is not None and (five.requests, five.errors) == (5000, 100)
    assert five.error_ratio == 0.02 and math.isclose(five.burn_rate, 20.0)
    firing = {(a.severity, a.short_window_seconds): a.firing for a in status.alerts}
    assert firing[("page", 300)] is False  # the 1h window has not burnt 14.4x yet
    assert status.has_data
    total_req = sum(s.requests for s in samples)
    assert math.isclose(status.period_error_ratio, 100 / total_req)
    assert math.isclose(status.error_budget_remaining_ratio, 1 - (100 / total_req) / 0.001)


def test_page_fires_when_both_windows_burn() -> None:
    samples = [Sample(0, (T0 - 3600 + 60 * m) * 1000, 1000, 20, 1000) for m in range(1, 61)]
    status = evaluate_slo(AVAILABILITY, POLICY, store_with(samples), T0)
    page = next(a for a in status.alerts if a.severity == "page" and a.short_window_seconds == 300)
    assert page.firing and math.isclose(page.long_burn_rate, 20.0)


def test_latency_errors_are_requests_above_the_threshold() -> None:
    samples = [Sample(s, (T0 - 100) * 1000, 100, 0, 97) for s in (0, 1)]
    status = evaluate_slo(LATENCY, POLICY, store_with(samples), T0)
    five = status.window(300)
    assert five is not None and (five.requests, five.errors) == (200, 6)
    assert math.isclose(five.burn_rate, 3.0)


def test_no_traffic_has_no_data_and_no_nan() -> None:
    status = evaluate_slo(AVAILABILITY, POLICY, SeriesStore(), T0)
    assert not status.has_data
    assert all(w.error_ratio == 0 and w.burn_rate == 0 for w in status.windows)
    assert status.error_budget_remaining_ratio == 1.0
    assert not any(a.firing for a in status.alerts)


def test_disabled_severities_report_no_alert() -> None:
    slo = SLO(
        "gateway",
        "a",
        0.999,
        AVAILABILITY.sli,
        alerting=Alerting(ticket=SeverityAlert(disable=True)),
    )
    status = evaluate_slo(slo, POLICY, SeriesStore(), T0)
    assert {a.severity for a in status.alerts} == {"page"}


def test_pull_mode_counts_give_the_same_status_as_the_store() -> None:
    samples = [Sample(0, (T0 - 60 * m) * 1000, 500, m % 7, 500) for m in range(0, 4000)]
    store = store_with(samples)
    from_store = evaluate_slo(AVAILABILITY, POLICY, store, T0)
    counts = [WindowCounts(w.window_seconds, w.requests, w.errors) for w in from_store.windows]
    assert status_from_windows(AVAILABILITY, POLICY, counts, T0) == from_store
