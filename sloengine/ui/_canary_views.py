"""Canary verdicts, canary-vs-baseline window sums and audit entries to the UI's JSON (pure).

The verdicts come from the canary service (`sloengine.canary.CanaryVerdict`, judged by
`sloengine.maths.judge`) through the one JSON mapping the HTTP side door answers
(`verdict_to_json`); the page shows it compacted (shorter keys, rounded numbers). The
latency quantile uses the judge's own `histogram_quantile`, so the charts and the verdict
agree on what "p95" means.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from sloengine.canary import CanaryVerdict, verdict_to_json
from sloengine.maths.judge import histogram_quantile
from sloengine.ui._slo_views import num

__all__ = [
    "ROLLBACK_ACTION_PREFIX",
    "CanaryKey",
    "canary_series_json",
    "rollbacks_json",
    "timeline_json",
    "variant_point",
    "verdict_json",
]

CanaryKey = tuple[str, str, str]  # (service, canary variant, baseline variant)
ROLLBACK_ACTION_PREFIX = "rollback_"
VERDICT_CHANGED = "verdict_changed"


class WindowSumLike(Protocol):
    @property
    def requests(self) -> float: ...
    @property
    def errors(self) -> float: ...
    @property
    def latency_bounds_seconds(self) -> tuple[float, ...]: ...
    @property
    def latency_counts(self) -> tuple[float, ...]: ...


_NON_FINITE = {"Infinity": "inf", "-Infinity": "-inf", "NaN": None}


def _num(value: float | str, digits: int = 6) -> float | str | None:
    """A double of the verdict JSON (a number, or "NaN" / "Infinity") as the page's number."""
    return _NON_FINITE[value] if isinstance(value, str) else num(value, digits)


def _guard_json(g: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "guard": g["guard"],
        "verdict": g["verdict"],
        "threshold": _num(g["threshold"]),
        "absolute_breached": g["absolute_breached"],
        "canary_short": _num(g["canary_value_short"]),
        "canary_long": _num(g["canary_value_long"]),
        "baseline_long": _num(g["baseline_value_long"]),
        "relative_breached": g["relative_breached"],
        "p_value": _num(g["p_value"], 3),
        "effect_size": _num(g["effect_size"], 4),
        "test": g["test"],
        "canary_samples": _num(g["canary_samples"]),
        "baseline_samples": _num(g["baseline_samples"]),
        "min_samples": _num(g["min_samples"]),
        "short_window_s": g["short_window_seconds"],
        "long_window_s": g["long_window_seconds"],
        "reason": g["reason"],
    }


def verdict_json(verdict: CanaryVerdict) -> dict[str, Any]:
    """One verdict with every guard's signals (values, p-values, effect sizes, samples):
    the side door's verdict JSON, compacted for the page."""
    body = verdict_to_json(verdict)
    return {
        "service": body["service"],
        "canary": body["canary_variant"],
        "baseline": body["baseline_variant"],
        "verdict": body["verdict"],
        "reason": body["reason"],
        "revision": body["revision"],
        "eval_time": body["eval_time_unix_s"],
        "guards": [_guard_json(g) for g in body["guards"]],
    }


def variant_point(ws: WindowSumLike, quantile: float) -> tuple[float | None, float | None]:
    """(error ratio, latency quantile) of one variant's window; None where there is no data.

    A window whose histogram is all zeros had no histogram sent (see sloengine.canary
    `_observe`): its quantile is unknown, not "slower than the last bound".
    """
    if ws.requests <= 0:
        return None, None
    ratio = ws.errors / ws.requests
    if sum(ws.latency_counts) <= 0:
        return ratio, None
    q = histogram_quantile(quantile, ws.latency_bounds_seconds, ws.latency_counts, ws.requests)
    return ratio, q


def canary_series_json(
    times: Sequence[float],
    canary: Sequence[WindowSumLike],
    baseline: Sequence[WindowSumLike],
    quantile: float,
) -> dict[str, Any]:
    """Error ratio and latency quantile of canary and baseline at each time."""
    out: dict[str, list[Any]] = {
        "t": list(times),
        "canary_error_ratio": [],
        "baseline_error_ratio": [],
        "canary_latency_s": [],
        "baseline_latency_s": [],
        "canary_requests": [],
        "baseline_requests": [],
    }
    for c, b in zip(canary, baseline, strict=True):
        c_ratio, c_q = variant_point(c, quantile)
        b_ratio, b_q = variant_point(b, quantile)
        out["canary_error_ratio"].append(num(c_ratio))
        out["baseline_error_ratio"].append(num(b_ratio))
        out["canary_latency_s"].append(num(c_q))
        out["baseline_latency_s"].append(num(b_q))
        out["canary_requests"].append(num(c.requests))
        out["baseline_requests"].append(num(b.requests))
    return out


def _details(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    details = entry.get("details")
    return details if isinstance(details, Mapping) else {}


def timeline_json(entries: Iterable[Mapping[str, Any]], key: CanaryKey) -> list[dict[str, Any]]:
    """Every recorded verdict change of one canary, oldest first (from the audit log)."""
    service, canary, baseline = key
    out = []
    for e in entries:
        d = _details(e)
        if e.get("action") != VERDICT_CHANGED or d.get("service") != service:
            continue
        if d.get("canary") != canary or d.get("baseline") != baseline:
            continue
        out.append(
            {
                "seq": e.get("seq"),
                "time": e.get("time"),
                "eval_time": d.get("eval_time"),
                "from": d.get("from"),
                "to": d.get("to"),
                "revision": d.get("revision", ""),
                "actor": e.get("actor"),
                "reason": e.get("reason", ""),
            }
        )
    return out


def rollbacks_json(entries: Iterable[Mapping[str, Any]], service: str) -> list[dict[str, Any]]:
    """The service's rollback actions and their results (attempts, outcomes), oldest first."""
    out = []
    for e in entries:
        action = str(e.get("action", ""))
        d = _details(e)
        if not action.startswith(ROLLBACK_ACTION_PREFIX) or d.get("service") != service:
            continue
        out.append(
            {
                "seq": e.get("seq"),
                "time": e.get("time"),
                "action": action,
                "result": action.removeprefix(ROLLBACK_ACTION_PREFIX).replace("_", " "),
                "revision": d.get("revision", ""),
                "actor": e.get("actor"),
                "reason": e.get("reason", ""),
                "attempt": d.get("attempt"),
                "error": d.get("error", ""),
            }
        )
    return out
