"""Panel, variable and link factories shared by the generated dashboards.

Thin wrappers over grafana-foundation-sdk builders that fix the house style once: every
panel reads the `$datasource` variable, queries get stable refIds (A, B, ...), thresholds
are drawn as lines on time series, and legends are tables with the last and max values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.builders import prometheus as prom_b
from grafana_foundation_sdk.builders import stat as stat_b
from grafana_foundation_sdk.builders import timeseries as ts_b
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dash

from sloengine import conventions as c

DATASOURCE_VAR = "datasource"
SERVICE_VAR = "service"
DATASOURCE = dash.DataSourceRef(type_val="prometheus", uid="${" + DATASOURCE_VAR + "}")

# Grafana's grid is 24 columns wide.
FULL, HALF, THIRD, QUARTER = 24, 12, 8, 6


@dataclass(frozen=True)
class Query:
    """One panel query: PromQL plus the legend Grafana shows for each series."""

    expr: str
    legend: str


@dataclass(frozen=True)
class Step:
    """A threshold step: from `value` upwards the panel colours (and draws) `color`."""

    value: float
    color: str


def _targets(queries: Sequence[Query], *, instant: bool) -> list[prom_b.Dataquery]:
    targets = []
    for i, q in enumerate(queries):
        target = prom_b.Dataquery().expr(q.expr).legend_format(q.legend).ref_id(chr(ord("A") + i))
        targets.append(target.instant() if instant else target.range())
    return targets


def _thresholds(base_color: str, steps: Sequence[Step]) -> dash_b.ThresholdsConfig:
    # Grafana needs the steps ascending, after a base step whose value is null (-Infinity).
    ordered = sorted(steps, key=lambda s: s.value)
    return (
        dash_b.ThresholdsConfig()
        .mode(dash.ThresholdsMode.ABSOLUTE)
        .steps(
            [dash.Threshold(None, base_color), *(dash.Threshold(s.value, s.color) for s in ordered)]
        )
    )


def timeseries(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    unit: str,
    width: int = HALF,
    height: int = 8,
    steps: Sequence[Step] = (),
    minimum: float | None = 0,
) -> ts_b.Panel:
    """A time series panel; `steps` are drawn as horizontal dashed lines."""
    panel = (
        ts_b.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(list(_targets(queries, instant=False)))
        .unit(unit)
        .span(width)
        .height(height)
        .line_width(1)
        .fill_opacity(10)
        .show_points(common.VisibilityMode.NEVER)
        .legend(
            common_b.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["lastNotNull", "max"])
        )
        .tooltip(
            common_b.VizTooltipOptions()
            .mode(common.TooltipDisplayMode.MULTI)
            .sort(common.SortOrder.DESCENDING)
        )
    )
    if minimum is not None:
        panel = panel.min(minimum)
    if steps:
        panel = panel.thresholds(_thresholds("green", steps)).thresholds_style(
            common_b.GraphThresholdsStyleConfig().mode(common.GraphTresholdsStyleMode.DASHED)
        )
    return panel


def stat(
    title: str,
    description: str,
    query: Query,
    *,
    unit: str,
    base_color: str,
    steps: Sequence[Step],
    width: int = QUARTER,
    height: int = 5,
    decimals: int | None = None,
) -> stat_b.Panel:
    """A single-value panel of the query's latest value, coloured by `steps`."""
    panel = (
        stat_b.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(list(_targets([query], instant=True)))
        .unit(unit)
        .span(width)
        .height(height)
        .thresholds(_thresholds(base_color, steps))
        .color_scheme(dash_b.FieldColor().mode(dash.FieldColorModeId.THRESHOLDS))
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.NONE)
        .text_mode(common.BigValueTextMode.VALUE)
        .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    return panel.decimals(decimals) if decimals is not None else panel


def alerts_annotation(name: str, expr: str, color: str) -> dash_b.AnnotationQuery:
    """Marks on every time series where `expr` (an ALERTS selector) has samples."""
    return (
        dash_b.AnnotationQuery()
        .name(name)
        .datasource(DATASOURCE)
        .enable(True)
        .icon_color(color)
        .expr(expr)
    )


def datasource_variable() -> dash_b.DatasourceVariable:
    """`$datasource`: any Prometheus-compatible data source (Prometheus, Thanos, Mimir)."""
    return dash_b.DatasourceVariable(DATASOURCE_VAR).label("Data source").type("prometheus")


def service_query_variable(default: str) -> dash_b.QueryVariable:
    """`$service`: every service that reports RED metrics; opens on `default`."""
    return (
        dash_b.QueryVariable(SERVICE_VAR)
        .label("Service")
        .datasource(DATASOURCE)
        .query(f"label_values({c.HTTP_REQUESTS_TOTAL}, {c.LABEL_SERVICE})")
        .refresh(dash.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dash.VariableSort.ALPHABETICAL_ASC)
        .current(dash.VariableOption(selected=True, text=default, value=default))
    )


def service_fixed_variable(service: str) -> dash_b.CustomVariable:
    """`$service` on a per-service dashboard: one value, shown so links can carry it."""
    option = dash.VariableOption(selected=True, text=service, value=service)
    return (
        dash_b.CustomVariable(SERVICE_VAR)
        .label("Service")
        .values(service)
        .options([option])
        .current(option)
    )


def link_to(title: str, uid: str, *, include_vars: bool) -> dash_b.DashboardLink:
    """A link to one dashboard by uid, keeping the time range (and variables if asked)."""
    return (
        dash_b.DashboardLink(title)
        .type(dash.DashboardLinkType.LINK)
        .url(f"/d/{uid}")
        .keep_time(True)
        .include_vars(include_vars)
        .as_dropdown(False)
        .target_blank(False)
        .icon("dashboard")
        .tooltip("")
        .tags([])
    )


def link_by_tags(title: str, tags: list[str]) -> dash_b.DashboardLink:
    """A drop-down of every dashboard carrying all of `tags`."""
    return (
        dash_b.DashboardLink(title)
        .type(dash.DashboardLinkType.DASHBOARDS)
        .tags(tags)
        .as_dropdown(True)
        .keep_time(True)
        .include_vars(False)
        .target_blank(False)
        .icon("external link")
        .tooltip("")
        .url("")
    )
