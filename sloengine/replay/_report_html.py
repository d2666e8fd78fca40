"""The HTML report: one self-contained file (plotly.js embedded), readable offline.

Per SLO and variant, one figure of three stacked panels sharing the time axis:
burn rate per window with the policy's thresholds drawn, error budget remaining (and the
SLI), and the page/ticket alert spans. `compare` lays each SLO's variants side by side.
Canaries get a verdict timeline. Chart data are the replay's downsampled curves.
"""

from __future__ import annotations

import html
import json
from typing import Any

import numpy as np
import plotly.colors
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from sloengine.durations import format_duration
from sloengine.replay._canary import CanaryReplay
from sloengine.replay._report_data import format_time, result_to_json, summary_table
from sloengine.replay._run import ReplayResult
from sloengine.replay._slo import SLOReplay

__all__ = ["render_html"]

SEVERITY_COLOURS = {"page": "#d62728", "ticket": "#ff7f0e"}
VERDICT_LEVEL = {"PASS": 2, "INCONCLUSIVE": 1, "FAIL": 0}
VERDICT_COLOURS = {"PASS": "#2ca02c", "INCONCLUSIVE": "#7f7f7f", "FAIL": "#d62728"}


def _dates(seconds: Any) -> Any:
    return np.asarray(seconds, dtype=np.float64).astype("datetime64[s]")


def _window(seconds: float) -> str:
    try:
        return format_duration(seconds)
    except ValueError:
        return f"{seconds:g}s"


def slo_figure(replays: list[SLOReplay]) -> go.Figure:
    """One column per replay (side by side under compare): burn rates with the policy's
    thresholds, budget remaining and SLI, alert spans."""
    cols = len(replays)
    fig = make_subplots(
        rows=3,
        cols=cols,
        shared_xaxes=True,
        shared_yaxes="rows",
        vertical_spacing=0.07,
        horizontal_spacing=0.04,
        row_heights=[0.5, 0.3, 0.2],
        column_titles=[r.label for r in replays],
        row_titles=["burn rate per window", "budget remaining / SLI", "alerts"],
    )
    shown: set[str] = set()  # legend entries already drawn (columns repeat most of them)
    windows = sorted({w for r in replays for w in r.chart.burn_rates})
    palette = plotly.colors.qualitative.D3
    colours = {w: palette[i % len(palette)] for i, w in enumerate(windows)}
    for col, r in enumerate(replays, start=1):
        _slo_column(fig, r, col, shown, colours)
    fig.update_yaxes(title_text="x budget", row=1, col=1, rangemode="tozero")
    fig.update_yaxes(tickformat=".0%", row=2)
    fig.update_yaxes(tickvals=[1, 2], ticktext=["ticket", "page"], range=[0.5, 2.5], row=3)
    fig.update_layout(
        height=640,
        margin={"l": 60, "r": 40, "t": 70, "b": 30},
        title=f"{replays[0].slo.service}/{replays[0].slo.name}",
        legend={"orientation": "h"},
    )
    return fig


def _slo_column(
    fig: go.Figure, r: SLOReplay, col: int, shown: set[str], colours: dict[float, str]
) -> None:
    def first(name: str) -> bool:
        new = name not in shown
        shown.add(name)
        return new

    x = _dates(r.chart.times_s)
    period = float(r.slo.period_seconds)
    for w, values in sorted(r.chart.burn_rates.items()):
        if w == period:
            continue
        fig.add_trace(
            go.Scatter(
                x=x,
                y=values,
                name=f"burn {_window(w)}",
                mode="lines",
                line={"width": 1, "color": colours[w]},
                legendgroup=_window(w),
                showlegend=first(f"burn {_window(w)}"),
            ),
            row=1,
            col=col,
        )
    for bw in r.policy.windows:
        fig.add_hline(
            y=bw.factor,
            row=1,
            col=col,
            line={"dash": "dash", "color": SEVERITY_COLOURS.get(bw.severity, "#333")},
            annotation_text=f"{bw.severity} {bw.factor:g}x ({_window(bw.short_window_seconds)}"
            f" & {_window(bw.long_window_seconds)})",
            annotation_position="top left",
        )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=r.chart.budget_remaining,
            name="budget remaining",
            mode="lines",
            line={"color": "#1f77b4"},
            legendgroup="budget",
            showlegend=first("budget"),
        ),
        row=2,
        col=col,
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=r.chart.sli,
            name=f"SLI ({_window(period)})",
            mode="lines",
            line={"color": "#9467bd", "dash": "dot"},
            legendgroup="sli",
            showlegend=first("sli"),
        ),
        row=2,
        col=col,
    )
    fig.add_hline(y=0, row=2, col=col, line={"color": "#999", "width": 1})
    for level, severity in enumerate(("ticket", "page"), start=1):
        firing = r.chart.firing.get(severity)
        if firing is None:
            continue
        fig.add_trace(
            go.Scatter(
                x=x,
                y=np.where(firing, level, np.nan),
                name=f"{severity} firing",
                mode="lines",
                line={"width": 10, "color": SEVERITY_COLOURS[severity]},
                connectgaps=False,
                legendgroup=severity,
                showlegend=first(severity),
            ),
            row=3,
            col=col,
        )


def canary_figure(c: CanaryReplay) -> go.Figure:
    """The verdict at each step, one marker per step on three levels."""
    fig = go.Figure()
    for verdict, level in VERDICT_LEVEL.items():
        steps = [s for s in c.steps if s.verdict == verdict]
        fig.add_trace(
            go.Scatter(
                x=_dates([s.time_s for s in steps]),
                y=[level] * len(steps),
                mode="markers",
                name=verdict,
                marker={"color": VERDICT_COLOURS[verdict], "size": 8, "symbol": "square"},
                text=[s.reason for s in steps],
                hoverinfo="x+text",
            )
        )
    if c.first_fail_s is not None:
        fig.add_vline(x=float(c.first_fail_s) * 1000, line={"color": "#d62728", "dash": "dash"})
    fig.update_yaxes(
        tickvals=list(VERDICT_LEVEL.values()), ticktext=list(VERDICT_LEVEL), range=[-0.5, 2.5]
    )
    fig.update_layout(
        height=260,
        margin={"l": 100, "r": 20, "t": 50, "b": 30},
        title=f"canary {c.service}: {c.canary} vs {c.baseline}"
        + (f" (revision {c.revision})" if c.revision else ""),
    )
    return fig


def _div(fig: go.Figure) -> str:
    return str(fig.to_html(full_html=False, include_plotlyjs=False, config={"responsive": True}))


_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:12px}
html{overflow-y:scroll}
section{margin-bottom:2em}
"""


def render_html(result: ReplayResult) -> str:
    """The whole report as one HTML document with plotly.js inlined (works offline)."""
    o = result.options
    title = f"SLO replay {format_time(o.first_s)} .. {format_time(o.last_s)}"
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style>",
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>source: {html.escape(result.source)}</p>",
        f"<pre id='summary'>{html.escape(summary_table(result))}</pre>",
    ]
    groups: dict[str, list[SLOReplay]] = {}
    for r in result.slos:
        groups.setdefault(r.slo.id, []).append(r)
    for slo_id, replays in groups.items():
        parts.append(f"<section class='slo' id='slo-{html.escape(slo_id)}'>")
        parts.append(f"<h2>{html.escape(slo_id)}</h2>")
        if o.compare and len(replays) > 1:
            parts.append(_div(slo_figure(replays)))
        else:
            parts += [_div(slo_figure([r])) for r in replays]
        parts.append("</section>")
    for c in result.canaries:
        parts.append(
            f"<section class='canary' id='canary-{html.escape(c.service)}'>"
            f"<h2>canary {html.escape(c.service)}</h2>"
        )
        parts.append(_div(canary_figure(c)))
        parts.append("</section>")
    data = json.dumps(result_to_json(result)).replace("</", "<\\/")
    parts.append(f"<script type='application/json' id='replay-data'>{data}</script>")
    parts.append("</body></html>")
    return "\n".join(parts)
