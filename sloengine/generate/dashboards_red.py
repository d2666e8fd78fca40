"""The RED dashboard: rate, errors and duration by route of the `$service` variable.

It reads only the conventions' metrics (`http_requests_total`,
`http_request_duration_seconds`, `http_requests_in_flight`), so it works for any service
that uses the sidecar or the instrumentation package, with or without an SLO.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash_b

from sloengine import conventions as c
from sloengine.generate import dashboards_queries as q
from sloengine.generate.dashboards_panels import (
    FULL,
    THIRD,
    Query,
    datasource_variable,
    service_query_variable,
    timeseries,
)

QUANTILES = (0.5, 0.95, 0.99)
ROUTE = (c.LABEL_ROUTE,)
VARIANT = (c.LABEL_VARIANT,)


def red_dashboard(default_service: str) -> dash_b.Dashboard:
    """Rate, errors and duration by route, plus in-flight requests, for `$service`."""
    board = (
        dash_b.Dashboard("RED metrics")
        .with_variable(datasource_variable())
        .with_variable(service_query_variable(default_service))
        .with_row(dash_b.Row("Rate and errors"))
        .with_panel(
            timeseries(
                "Request rate by route",
                "Requests per second, every status and variant.",
                [Query(q.request_rate(ROUTE), "{{route}}")],
                unit="reqps",
                width=THIRD,
            )
        )
        .with_panel(
            timeseries(
                "Error ratio by route",
                f"Share of requests answered with status {c.ERROR_STATUS_REGEX}.",
                [Query(q.error_ratio(ROUTE), "{{route}}")],
                unit="percentunit",
                width=THIRD,
            )
        )
        .with_panel(
            timeseries(
                "Requests by status",
                "Requests per second by response status code.",
                [Query(q.request_rate((c.LABEL_STATUS,)), "{{status}}")],
                unit="reqps",
                width=THIRD,
            )
        )
        .with_row(dash_b.Row("Duration by route"))
    )
    for quantile in QUANTILES:
        board = board.with_panel(
            timeseries(
                f"p{quantile * 100:g} latency by route",
                f"{quantile * 100:g}th percentile of request duration, interpolated within "
                "histogram buckets.",
                [Query(q.latency_quantile(quantile, ROUTE), "{{route}}")],
                unit="s",
                width=THIRD,
            )
        )
    return board.with_row(dash_b.Row("Saturation")).with_panel(
        timeseries(
            "Requests in flight by variant",
            "Requests being served right now.",
            [Query(q.in_flight(VARIANT), "{{variant}}")],
            unit="short",
            width=FULL,
        )
    )
