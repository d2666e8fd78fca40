"""Reports of the verdict: a JSON summary for CI and a self-contained HTML thresholds section
(inline SVG charts, no script, no CDN) added to locust's own HTML report."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from loadtests.expressions import DURATION_METRIC
from loadtests.thresholds import EndpointJudgement
from loadtests.verdict import IntervalPoint, RunVerdict

SECTION_ID = "loadtest-thresholds"
SCHEMA = "sloengine.loadtest.v1"


def _num(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def summary_dict(verdict: RunVerdict, workers: int) -> dict[str, Any]:
    """The JSON summary a CI job reads: verdict, exit code, breaches, per-interval series."""
    s = verdict.settings
    return {
        "schema": SCHEMA,
        "verdict": "pass" if verdict.ok else "fail",
        "exit_code": verdict.exit_code,
        "breached_endpoints": verdict.breached_endpoints,
        "aborted": verdict.aborted or None,
        "final": verdict.final,
        "workers": workers,
        "started_at": verdict.started_at_epoch,
        "duration_seconds": _num(verdict.judged_at_epoch - verdict.started_at_epoch, 1),
        "settings": {
            "profile": s.profile,
            "warmup_seconds": s.warmup_seconds,
            "interval_seconds": s.interval_seconds,
            "last_intervals": s.last_intervals,
        },
        "endpoints": [
            _endpoint_dict(j, verdict.series.get(j.endpoint, [])) for j in verdict.judgements
        ],
        "steps": [
            {
                "phase": st.phase,
                "from_seconds": _num(st.first_offset_seconds, 1),
                "to_seconds": _num(st.last_offset_seconds, 1),
                "canary_share": _num(st.canary_share, 4),
                "canary": _variant_dict(st.canary),
                "baseline": _variant_dict(st.baseline),
            }
            for st in verdict.steps
        ],
        "summary": verdict.lines(),
    }


def _variant_dict(stats: Any) -> dict[str, Any]:
    return {
        "requests": stats.requests,
        "errors": stats.errors,
        "p95_ms": stats.percentile_ms(0.95),
        "error_ratio": _num(stats.error_ratio(), 5),
    }


def _endpoint_dict(j: EndpointJudgement, points: Sequence[IntervalPoint]) -> dict[str, Any]:
    return {
        "name": j.endpoint,
        "ok": j.ok,
        "breaches": list(j.breaches),
        "intervals_judged": j.intervals_judged,
        "requests": j.requests,
        "errors": j.errors,
        "p95_ms": _num(j.p95_ms, 1),
        "p95_trend_ms_per_interval": _num(j.p95_slope_ms_per_interval, 2),
        "error_ratio": _num(j.error_ratio, 5),
        "thresholds": [
            {
                "metric": r.limit.metric,
                "expression": r.limit.expression,
                "observed": _num(r.observed, 5),
                "ok": r.ok,
                "abort_on_fail": r.limit.abort_on_fail,
                "delay_abort_eval_seconds": r.limit.delay_abort_eval_seconds,
            }
            for r in j.results
        ],
        "intervals": [
            {
                "offset_seconds": _num(p.offset_seconds, 1),
                "requests": p.stats.requests,
                "errors": p.stats.errors,
                "p95_ms": p.stats.percentile_ms(0.95),
                "error_ratio": _num(p.stats.error_ratio(), 5),
            }
            for p in points
        ],
    }


def summary_json(verdict: RunVerdict, workers: int) -> str:
    return json.dumps(summary_dict(verdict, workers), indent=2, sort_keys=False) + "\n"


# --- HTML ---------------------------------------------------------------------------------

_CSS = """
#loadtest-thresholds{font-family:system-ui,sans-serif;margin:24px;color:#222;background:#fff}
#loadtest-thresholds table{border-collapse:collapse;margin:8px 0}
#loadtest-thresholds td,#loadtest-thresholds th{border:1px solid #ccc;padding:3px 8px;text-align:right}
#loadtest-thresholds th:first-child,#loadtest-thresholds td:first-child{text-align:left}
#loadtest-thresholds .ok{color:#1a7f37}#loadtest-thresholds .fail{color:#cf222e;font-weight:bold}
#loadtest-thresholds .judged{background:#f6f8fa}
"""


def _chart(
    points: Sequence[IntervalPoint],
    values: Sequence[float | None],
    limits: Sequence[float],
    judged_from: int,
    title: str,
    unit: str,
) -> str:
    """A line chart of one series per interval with dashed limit lines; the judged window
    (the last N intervals) is shaded."""
    width, height, pad = 560, 160, 36
    present = [v for v in values if v is not None]
    top = max([*present, *limits, 1e-9]) * 1.15
    n = max(len(points), 1)

    def x(i: int) -> float:
        return pad + (width - 2 * pad) * (i / (n - 1) if n > 1 else 0.5)

    def y(v: float) -> float:
        return height - pad + (pad * 2 - height) * (v / top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{html.escape(title)}">',
        f'<text x="{pad}" y="14" font-size="12">{html.escape(title)}</text>',
    ]
    if judged_from < len(points):
        x0 = x(judged_from) - 4
        parts.append(
            f'<rect x="{x0:.1f}" y="{pad - 12}" width="{x(len(points) - 1) - x0 + 4:.1f}" '
            f'height="{height - 2 * pad + 12}" fill="#eef3ff"><title>judged window</title></rect>'
        )
    parts.append(
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#888"/>'
    )
    for lim in limits:
        parts.append(
            f'<line x1="{pad}" y1="{y(lim):.1f}" x2="{width - pad}" y2="{y(lim):.1f}" '
            f'stroke="#cf222e" stroke-dasharray="6 4"><title>limit {lim:g} {unit}</title></line>'
        )
    coords = [f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values) if v is not None]
    if coords:
        parts.append(
            f'<polyline fill="none" stroke="#0969da" stroke-width="2" points="{" ".join(coords)}"/>'
        )
    for i, v in enumerate(values):
        if v is not None:
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="#0969da">'
                f"<title>{points[i].offset_seconds:.0f}s: {v:g} {unit}</title></circle>"
            )
    top_label = f"{top:.0f} {unit}" if unit else f"{top:.1%}"
    parts.append(f'<text x="4" y="{pad - 14}" font-size="10">{top_label}</text>')
    parts.append(f'<text x="4" y="{height - pad}" font-size="10">0</text>')
    if points:
        parts.append(
            f'<text x="{pad}" y="{height - 8}" font-size="10">{points[0].offset_seconds:.0f}s</text>'
            f'<text x="{width - pad - 24}" y="{height - 8}" font-size="10">'
            f"{points[-1].offset_seconds:.0f}s</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _endpoint_html(j: EndpointJudgement, points: Sequence[IntervalPoint], last_n: int) -> str:
    esc = html.escape
    state = '<span class="ok">OK</span>' if j.ok else '<span class="fail">BREACH</span>'
    rows = "".join(
        f"<tr><td>{esc(r.limit.metric)} {esc(r.limit.expression)}"
        f"{' (abortOnFail)' if r.limit.abort_on_fail else ''}</td>"
        f"<td>{'n/a' if r.observed is None else (f'{r.observed:.0f} ms' if r.limit.metric == DURATION_METRIC else f'{r.observed:.2%}')}</td>"
        f'<td class="{"ok" if r.ok else "fail"}">{"met" if r.ok else "failed"}</td></tr>'
        for r in j.results
    )
    judged_from = max(0, len([p for p in points if p.stats.requests]) - last_n)
    p95_limits = [
        r.limit.value
        for r in j.results
        if r.limit.metric == DURATION_METRIC and r.limit.quantile == 0.95
    ]
    rate_limits = [r.limit.value for r in j.results if r.limit.metric != DURATION_METRIC]
    p95_chart = _chart(
        points,
        [p.stats.percentile_ms(0.95) for p in points],
        p95_limits,
        judged_from,
        f"{j.endpoint}: p95 per interval (ms)",
        "ms",
    )
    err_chart = _chart(
        points,
        [p.stats.error_ratio() if p.stats.requests else None for p in points],
        rate_limits,
        judged_from,
        f"{j.endpoint}: error ratio per interval",
        "",
    )
    interval_rows = "".join(
        f'<tr class="{"judged" if i >= judged_from else ""}"><td>{p.offset_seconds:.0f}s</td>'
        f"<td>{p.stats.requests}</td><td>{p.stats.errors}</td>"
        f"<td>{'n/a' if (q := p.stats.percentile_ms(0.95)) is None else f'{q:.0f}'}</td>"
        f"<td>{p.stats.error_ratio():.2%}</td></tr>"
        for i, p in enumerate(points)
    )
    breaches = "".join(f"<li>{esc(b)}</li>" for b in j.breaches)
    return (
        f"<h3>{esc(j.endpoint)} {state}</h3>"
        + (f"<ul>{breaches}</ul>" if breaches else "")
        + f"<table><tr><th>threshold</th><th>observed (trend)</th><th>result</th></tr>{rows}</table>"
        + f"<div>{p95_chart}</div><div>{err_chart}</div>"
        + "<details><summary>intervals</summary><table><tr><th>start</th><th>requests</th>"
        + f"<th>errors</th><th>p95 ms</th><th>error ratio</th></tr>{interval_rows}</table></details>"
    )


def thresholds_section(verdict: RunVerdict) -> str:
    """The thresholds section: verdict, per-step summary, per-endpoint limits and charts."""
    esc = html.escape
    s = verdict.settings
    verdict_text = "PASS" if verdict.ok else "FAIL"
    steps = ""
    if verdict.steps:
        steps = (
            "<h3>Rollout steps</h3><ul>"
            + "".join(f"<li>{esc(st.line())}</li>" for st in verdict.steps)
            + "</ul>"
        )
    aborted = (
        f'<p class="fail">Aborted early: {esc(verdict.aborted)}</p>' if verdict.aborted else ""
    )
    endpoints = "".join(
        _endpoint_html(j, verdict.series.get(j.endpoint, []), s.last_intervals)
        for j in verdict.judgements
    )
    return (
        f'<section id="{SECTION_ID}"><style>{_CSS}</style>'
        f'<h2>Thresholds: <span class="{"ok" if verdict.ok else "fail"}">{verdict_text}</span></h2>'
        f"<p>{esc(verdict.lines()[-1])}. Judged on the trend of the last {s.last_intervals} "
        f"intervals of {s.interval_seconds:g}s after a {s.warmup_seconds:g}s warm-up "
        f"(profile {esc(s.profile)}); the shaded band is the judged window, dashed lines the "
        f"limits.</p>{aborted}{steps}{endpoints}</section>"
    )


def add_section_to_report(report_html: str, section: str) -> str:
    """Insert the section at the end of locust's report body (replacing an earlier one)."""
    start = report_html.find(f'<section id="{SECTION_ID}">')
    if start >= 0:
        end = report_html.find("</section>", start)
        report_html = report_html[:start] + report_html[end + len("</section>") :]
    at = report_html.rfind("</body>")
    if at < 0:
        return report_html + section
    return report_html[:at] + section + report_html[at:]
