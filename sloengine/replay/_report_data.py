"""A replay result as plain data: the JSON report, and the terminal summary table.

JSON (`schema: sloengine.replay/v1`), times as RFC 3339 UTC:

    {"schema": ..., "source": ..., "from": ..., "to": ..., "step_seconds": 60,
     "variants": ["fast-slow @ 99.9%", ...],
     "slos": [{"slo", "service", "name", "policy", "objective_percent", "variant",
               "requests", "errors", "sli_end", "budget_remaining_end", "budget_remaining_min",
               "alert_minutes": {"page": ..., "ticket": ...},
               "alerts": [{"severity", "fired_at", "resolved_at", "minutes",
                           "budget_spent_ratio", "firing_at_start"}]}],
     "skipped": [{"slo", "reason"}],
     "canaries": [{"service", "canary", "baseline", "revision", "first_fail_at",
                   "verdict_counts", "steps": [{"time", "verdict", "reason", "guards"}]}]}
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from sloengine.replay._canary import CanaryReplay
from sloengine.replay._run import ReplayResult
from sloengine.replay._slo import SLOReplay

__all__ = ["SCHEMA", "format_time", "result_to_json", "summary_table"]

SCHEMA = "sloengine.replay/v1"


def format_time(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _finite(x: float) -> float | str:
    """JSON has no Infinity: an objective of 100% burns at "+Inf"."""
    if math.isfinite(x):
        return x
    return "NaN" if math.isnan(x) else ("+Inf" if x > 0 else "-Inf")


def _slo_json(r: SLOReplay) -> dict[str, Any]:
    return {
        "slo": r.slo.id,
        "service": r.slo.service,
        "name": r.slo.name,
        "policy": r.policy.name,
        "objective_percent": r.slo.objective_ratio * 100,
        "variant": r.label,
        "requests": r.requests,
        "errors": r.errors,
        "sli_end": _finite(r.sli_end),
        "budget_remaining_end": _finite(r.budget_remaining_end),
        "budget_remaining_min": _finite(r.budget_remaining_min),
        "alert_minutes": {k: float(v) for k, v in r.alert_minutes.items()},
        "alerts": [
            {
                "severity": a.severity,
                "fired_at": format_time(a.fired_at_s),
                "resolved_at": format_time(a.resolved_at_s),
                "minutes": a.minutes,
                "budget_spent_ratio": _finite(a.budget_spent_ratio),
                "firing_at_start": a.firing_at_start,
            }
            for a in r.alerts
        ],
    }


def _canary_json(c: CanaryReplay) -> dict[str, Any]:
    return {
        "service": c.service,
        "canary": c.canary,
        "baseline": c.baseline,
        "revision": c.revision,
        "first_fail_at": format_time(c.first_fail_s),
        "verdict_counts": c.counts(),
        "steps": [
            {
                "time": format_time(s.time_s),
                "verdict": s.verdict,
                "reason": s.reason,
                "guards": s.guards,
            }
            for s in c.steps
        ],
    }


def result_to_json(result: ReplayResult) -> dict[str, Any]:
    """The machine-readable report (see the module docstring)."""
    o = result.options
    return {
        "schema": SCHEMA,
        "source": result.source,
        "from": format_time(o.first_s),
        "to": format_time(o.last_s),
        "step_seconds": o.step_seconds,
        "variants": list(result.variant_labels),
        "slos": [_slo_json(r) for r in result.slos],
        "skipped": [{"slo": s, "reason": why} for s, why in result.skipped],
        "canaries": [_canary_json(c) for c in result.canaries],
    }


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%" if math.isfinite(x) else str(x)


def _cells(r: SLOReplay) -> list[str]:
    pages = [a for a in r.alerts if a.severity == "page"]
    tickets = [a for a in r.alerts if a.severity == "ticket"]
    minutes = sum(r.alert_minutes.values())
    return [
        f"{len(pages)}",
        f"{len(tickets)}",
        f"{minutes:g}",
        _pct(r.budget_remaining_end),
        _pct(r.budget_remaining_min),
    ]


_HEAD = ["pages", "tickets", "alert min", "budget end", "budget min"]


def _render(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def _compact(r: SLOReplay) -> str:
    pages, tickets, minutes, end, _ = _cells(r)
    return f"P{pages} T{tickets} {minutes}m {end}"


def summary_table(result: ReplayResult) -> str:
    """The terminal summary: one row per SLO and variant (one row per SLO with the variants
    side by side under `compare`), then every alert episode and every canary."""
    lines = [
        f"replay {result.source}: {format_time(result.options.first_s)} .. "
        f"{format_time(result.options.last_s)}, step {result.options.step_seconds:g}s"
    ]
    variants = result.variant_labels
    if result.slos and result.options.compare and len(variants) > 1:
        lines.append("cells: P<pages> T<tickets> <alert minutes>m <budget remaining at the end>")
        by_slo: dict[str, dict[str, SLOReplay]] = {}
        for r in result.slos:
            by_slo.setdefault(f"{r.slo.service}/{r.slo.name}", {})[r.label] = r
        rows = [["SLO", *variants]]
        rows += [
            [name, *(_compact(per[v]) if v in per else "" for v in variants)]
            for name, per in by_slo.items()
        ]
        lines += _render(rows)
    elif result.slos:
        rows = [["SLO", "policy", "objective", *_HEAD]]
        rows += [
            [
                f"{r.slo.service}/{r.slo.name}",
                r.policy.name,
                f"{r.slo.objective_ratio * 100:g}%",
                *_cells(r),
            ]
            for r in result.slos
        ]
        lines += _render(rows)
    for r in result.slos:
        for a in r.alerts:
            resolved = format_time(a.resolved_at_s) or "still firing"
            start = "firing at start" if a.firing_at_start else f"fired {format_time(a.fired_at_s)}"
            lines.append(
                f"  {r.slo.service}/{r.slo.name} [{r.label}] {a.severity}: {start}, "
                f"resolved {resolved}, {a.minutes:g} min, {_pct(a.budget_spent_ratio)} of budget"
            )
    for slo_id, why in result.skipped:
        lines.append(f"  skipped {slo_id}: {why}")
    for c in result.canaries:
        counts = ", ".join(f"{k} {v}" for k, v in c.counts().items())
        first = format_time(c.first_fail_s) or "never"
        lines.append(
            f"canary {c.service} ({c.canary} vs {c.baseline}): first FAIL {first}; {counts}"
        )
    return "\n".join(lines)
