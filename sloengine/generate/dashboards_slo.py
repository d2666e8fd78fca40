"""The per-service SLO dashboard: SLI, error budget and burn rates for each of its SLOs.

Every panel reads the recording rules (`slo:*`, conventions.py), never the raw series, so
the dashboard costs Prometheus no more than the rules it already evaluates and shows
exactly the numbers the alerts compare.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models import dashboard as dash

from sloengine import conventions as c
from sloengine.durations import format_duration
from sloengine.generate import dashboards_queries as q
from sloengine.generate.dashboards_panels import (
    HALF,
    Query,
    Step,
    alerts_annotation,
    datasource_variable,
    service_fixed_variable,
    stat,
    timeseries,
)
from sloengine.model import SLO, BurnRatePolicy, BurnWindow, EventsSLI, NativeSLI

# Severity colours: a page is an emergency, a ticket can wait for working hours.
SEVERITY_COLORS = {c.SEVERITY_PAGE: "red", c.SEVERITY_TICKET: "orange"}


def burn_thresholds(windows: Sequence[BurnWindow]) -> list[Step]:
    """One threshold step per alert factor, coloured by severity; the lines on burn panels."""
    # Pages sort last, so a factor shared by a page and a ticket is drawn as the page.
    by_urgency = sorted(windows, key=lambda w: w.severity == c.SEVERITY_PAGE)
    colors = {w.factor: SEVERITY_COLORS.get(w.severity, "red") for w in by_urgency}
    return [Step(factor, color) for factor, color in sorted(colors.items())]


def window_pairs(policy: BurnRatePolicy) -> list[tuple[tuple[float, float], list[BurnWindow]]]:
    """The policy's alerts grouped by (short, long) window, shortest first.

    Alerts that share both windows (fast-slow's 10x page and 2x ticket over 5m & 1h) share
    one panel with a threshold line for each factor.
    """

    def key(w: BurnWindow) -> tuple[float, float]:
        return (w.short_window_seconds, w.long_window_seconds)

    ordered = sorted(policy.windows, key=lambda w: (key(w), -w.factor))
    return [(k, list(group)) for k, group in groupby(ordered, key=key)]


def sli_title(slo: SLO) -> str:
    """What the SLI measures, for row and panel titles."""
    sli = slo.sli
    if isinstance(sli, NativeSLI):
        if sli.kind == "latency" and sli.latency_threshold_seconds is not None:
            return f"latency <= {sli.latency_threshold_seconds:g}s"
        return "availability"
    return "good events" if isinstance(sli, EventsSLI) else "good ratio"


def _percent(ratio: float) -> str:
    return f"{round(ratio * 100, 10):g}%"


def _slo_panels(slo: SLO, policy: BurnRatePolicy) -> list[Builder[dash.Panel]]:
    name = slo.name
    budget = slo.error_budget_ratio
    period = format_duration(slo.period_seconds)
    shortest = format_duration(policy.window_seconds()[0])
    all_steps = burn_thresholds(policy.windows)
    panels: list[Builder[dash.Panel]] = [
        stat(
            "Error budget remaining",
            f"Share of the {period} error budget not yet spent; below 0 the SLO is breached.",
            Query(q.record(c.PERIOD_ERROR_BUDGET_REMAINING_RECORD, name), "remaining"),
            unit="percentunit",
            base_color="red",
            steps=[Step(0.0, "orange"), Step(0.5, "green")],
            decimals=1,
        ),
        stat(
            f"SLI over {period}",
            f"Share of good events over the SLO period; the objective is {_percent(slo.objective_ratio)}.",
            Query(q.sli_ratio(name, period), "SLI"),
            unit="percentunit",
            base_color="red",
            steps=[Step(slo.objective_ratio, "green")],
            decimals=3,
        ),
        stat(
            "Current burn rate",
            f"Error ratio over {shortest} divided by the error budget; 1 spends the budget "
            f"exactly over {period}. Colours step at the policy's alert factors.",
            Query(q.record(c.CURRENT_BURN_RATE_RECORD, name), "burn rate"),
            unit="suffix:x",
            base_color="green",
            steps=all_steps,
            decimals=2,
        ),
        stat(
            f"Burn rate over {period}",
            "Above 1 the budget runs out before the period ends.",
            Query(q.record(c.PERIOD_BURN_RATE_RECORD, name), "burn rate"),
            unit="suffix:x",
            base_color="green",
            steps=[Step(1.0, "red")],
            decimals=2,
        ),
        timeseries(
            f"SLI: {sli_title(slo)}",
            f"Share of good events over {shortest} and over {period}. The dashed line is the "
            f"objective, {_percent(slo.objective_ratio)}.",
            [
                Query(q.sli_ratio(name, shortest), shortest),
                Query(q.sli_ratio(name, period), period),
            ],
            unit="percentunit",
            steps=[Step(slo.objective_ratio, "red")],
            minimum=None,
        ),
        timeseries(
            "Error budget remaining",
            f"Share of the {period} error budget not yet spent. The dashed line is 0.",
            [Query(q.record(c.PERIOD_ERROR_BUDGET_REMAINING_RECORD, name), "remaining")],
            unit="percentunit",
            steps=[Step(0.0, "red")],
            minimum=None,
        ),
    ]
    for (short_s, long_s), alerts in window_pairs(policy):
        short, long = format_duration(short_s), format_duration(long_s)
        rules = ", ".join(f"{a.severity} above {a.factor:g}x" for a in alerts)
        panels.append(
            timeseries(
                f"Burn rate {short} & {long} ({rules})",
                f"Error ratio over each window divided by the error budget ({budget:.6g}). "
                f"The alert fires while BOTH lines are above a dashed line: {rules}.",
                [
                    Query(q.burn_rate(name, short, budget), short),
                    Query(q.burn_rate(name, long, budget), long),
                ],
                unit="suffix:x",
                width=HALF,
                steps=burn_thresholds(alerts),
            )
        )
    return panels


def slo_dashboard(
    service: str, slos: Sequence[SLO], policies: Sequence[BurnRatePolicy]
) -> dash_b.Dashboard:
    """One row per SLO of `service` (in the order given), each with its policy's windows."""
    board = (
        dash_b.Dashboard(f"SLOs / {service}")
        .with_variable(datasource_variable())
        .with_variable(service_fixed_variable(service))
        .annotation(alerts_annotation("SLO alerts firing", q.firing_slo_alerts(), "red"))
    )
    for slo, policy in zip(slos, policies, strict=True):
        title = (
            f"{slo.name}: {_percent(slo.objective_ratio)} {sli_title(slo)} over "
            f"{format_duration(slo.period_seconds)} (policy {policy.name})"
        )
        board = board.with_row(dash_b.Row(title))
        for panel in _slo_panels(slo, policy):
            board = board.with_panel(panel)
    return board
