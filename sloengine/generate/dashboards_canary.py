"""The canary-vs-baseline dashboard: the two guard signals of `$service` side by side.

Error ratio and p95 latency of `variant="canary"` against `variant="baseline"`, with the
thresholds of the CanaryErrorRateHigh / CanaryLatencyP95High guard alerts drawn, so what
the dashboard shows is what decides a rollback.
"""

from __future__ import annotations

from dataclasses import dataclass

from grafana_foundation_sdk.builders import dashboard as dash_b

from sloengine import conventions as c
from sloengine.generate import dashboards_queries as q
from sloengine.generate.dashboards_panels import (
    Query,
    Step,
    alerts_annotation,
    datasource_variable,
    service_query_variable,
    timeseries,
)

ROUTE = (c.LABEL_ROUTE,)
VARIANT = (c.LABEL_VARIANT,)


@dataclass(frozen=True)
class CanaryGuards:
    """The canary guard thresholds drawn on the canary dashboard (the alert rules' values)."""

    max_error_ratio: float = c.DEFAULT_CANARY_MAX_ERROR_RATIO
    max_p95_seconds: float = c.DEFAULT_CANARY_MAX_P95_SECONDS


def _side_by_side(legend_suffix: str = "") -> tuple[tuple[str, str], ...]:
    return tuple(
        (name, f"{name}{legend_suffix}") for name in (c.VARIANT_CANARY, c.VARIANT_BASELINE)
    )


def canary_dashboard(default_service: str, guards: CanaryGuards) -> dash_b.Dashboard:
    """Canary against baseline for `$service`: the two guard signals with their thresholds."""
    error_pct = f"{guards.max_error_ratio * 100:g}%"
    p95 = f"{guards.max_p95_seconds:g}s"
    return (
        dash_b.Dashboard("Canary vs baseline")
        .with_variable(datasource_variable())
        .with_variable(service_query_variable(default_service))
        .annotation(alerts_annotation("Rollback alerts firing", q.firing_rollback_alerts(), "red"))
        .with_row(dash_b.Row("Guards"))
        .with_panel(
            timeseries(
                f"Error ratio (guard {error_pct})",
                f"Share of 5xx answers, canary against baseline. {c.CANARY_ERROR_RATE_ALERT} "
                f"fires when the canary stays above the dashed line ({error_pct}).",
                [Query(q.error_ratio((), q.variant(v)), legend) for v, legend in _side_by_side()],
                unit="percentunit",
                steps=[Step(guards.max_error_ratio, "red")],
            )
        )
        .with_panel(
            timeseries(
                f"p95 latency (guard {p95})",
                f"95th percentile of request duration, canary against baseline. "
                f"{c.CANARY_LATENCY_P95_ALERT} fires when the canary stays above the dashed "
                f"line ({p95}).",
                [
                    Query(q.latency_quantile(0.95, (), q.variant(v)), legend)
                    for v, legend in _side_by_side()
                ],
                unit="s",
                steps=[Step(guards.max_p95_seconds, "red")],
            )
        )
        .with_row(dash_b.Row("By route"))
        .with_panel(
            timeseries(
                "Error ratio by route",
                "Where the canary's errors come from.",
                [
                    Query(q.error_ratio(ROUTE, q.variant(v)), legend)
                    for v, legend in _side_by_side(" {{route}}")
                ],
                unit="percentunit",
                steps=[Step(guards.max_error_ratio, "red")],
            )
        )
        .with_panel(
            timeseries(
                "p95 latency by route",
                "Which routes the canary slowed down.",
                [
                    Query(q.latency_quantile(0.95, ROUTE, q.variant(v)), legend)
                    for v, legend in _side_by_side(" {{route}}")
                ],
                unit="s",
                steps=[Step(guards.max_p95_seconds, "red")],
            )
        )
        .with_row(dash_b.Row("Traffic and alerts"))
        .with_panel(
            timeseries(
                "Request rate by variant",
                "Too little canary traffic makes a verdict INCONCLUSIVE rather than PASS.",
                [Query(q.request_rate(VARIANT), "{{variant}}")],
                unit="reqps",
            )
        )
        .with_panel(
            timeseries(
                "Guard alerts",
                f"1 while a canary guard alert (label {c.LABEL_ROLLBACK}="
                f'"{c.ROLLBACK_LABEL_VALUE}") is pending or firing; it triggers the rollback hook.',
                [Query(q.canary_guard_alerts(), "{{alertname}} {{alertstate}}")],
                unit="short",
            )
        )
    )
