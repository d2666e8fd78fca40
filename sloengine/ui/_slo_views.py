"""SLO evaluation results to the compact JSON the UI draws (pure: no I/O, no clock).

The maths lives in `sloengine.engine.evaluate` / `sloengine.maths.burn`; this module only selects,
rounds and shapes what the pages need. Non-finite numbers become the strings "inf" /
"-inf" (JSON has no infinity) and NaN becomes null.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from sloengine import conventions
from sloengine.model import SLO, BurnRatePolicy, EventsSLI, NativeSLI

__all__ = [
    "RANGES_SECONDS",
    "StatusLike",
    "alert_state",
    "history_json",
    "num",
    "slo_info_json",
    "slo_row_json",
    "status_json",
    "time_grid",
    "window_key",
]

# The detail page's range picker: label -> seconds.
RANGES_SECONDS: dict[str, float] = {
    "1h": 3600.0,
    "6h": 6 * 3600.0,
    "1d": 86400.0,
    "7d": 7 * 86400.0,
    "30d": 30 * 86400.0,
}

# Alert states, most severe first; the list page shows them as text, never colour alone.
STATE_PAGE = "page"
STATE_TICKET = "ticket"
STATE_OK = "ok"
STATE_NO_DATA = "no data"
STATE_ERROR = "error"


class WindowLike(Protocol):
    @property
    def window_seconds(self) -> float: ...
    @property
    def requests(self) -> float: ...
    @property
    def errors(self) -> float: ...
    @property
    def error_ratio(self) -> float: ...
    @property
    def burn_rate(self) -> float: ...


class AlertLike(Protocol):
    @property
    def severity(self) -> str: ...
    @property
    def short_window_seconds(self) -> float: ...
    @property
    def long_window_seconds(self) -> float: ...
    @property
    def factor(self) -> float: ...
    @property
    def short_burn_rate(self) -> float: ...
    @property
    def long_burn_rate(self) -> float: ...
    @property
    def firing(self) -> bool: ...


class StatusLike(Protocol):
    """What the UI reads from `sloengine.engine.evaluate.SLOStatusResult` (mirrors pb.SLOStatus)."""

    @property
    def eval_time_unix_s(self) -> float: ...
    @property
    def period_error_ratio(self) -> float: ...
    @property
    def error_budget_consumed_ratio(self) -> float: ...
    @property
    def error_budget_remaining_ratio(self) -> float: ...
    @property
    def has_data(self) -> bool: ...
    @property
    def windows(self) -> Sequence[WindowLike]: ...
    @property
    def alerts(self) -> Sequence[AlertLike]: ...


def num(value: float | None, digits: int = 6) -> float | str | None:
    """A float rounded to `digits` significant digits for compact JSON; inf as a string."""
    if value is None or math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return float(f"{value:.{digits}g}")


def _sli_kind(slo: SLO) -> str:
    if isinstance(slo.sli, NativeSLI):
        return slo.sli.kind
    return "events" if isinstance(slo.sli, EventsSLI) else "raw"


def slo_info_json(slo: SLO, policy: BurnRatePolicy) -> dict[str, Any]:
    """Identity and settings of one SLO (what ListSLOs returns)."""
    return {
        "service": slo.service,
        "name": slo.name,
        "objective": slo.objective_ratio,
        "period_s": slo.period_seconds,
        "description": slo.description,
        "labels": dict(slo.labels),
        "kind": _sli_kind(slo),
        "source": "push" if isinstance(slo.sli, NativeSLI) else "prometheus",
        "policy": policy.name,
    }


def alert_state(status: StatusLike) -> str:
    """`page` / `ticket` when an alert of that severity fires, `no data`, else `ok`."""
    firing = {a.severity for a in status.alerts if a.firing}
    if conventions.SEVERITY_PAGE in firing:
        return STATE_PAGE
    if conventions.SEVERITY_TICKET in firing:
        return STATE_TICKET
    if firing:
        return sorted(firing)[0]
    if status.has_data:
        return STATE_OK
    # e.g. "no latency data": the series exist but cannot say anything about this SLI.
    return getattr(status, "no_data_reason", "") or STATE_NO_DATA


def _sli(status: StatusLike) -> float | str | None:
    """The SLI over the SLO period (share of good events); null without data."""
    return num(1.0 - status.period_error_ratio) if status.has_data else None


def policy_windows(policies: Iterable[BurnRatePolicy]) -> list[float]:
    """Every distinct alert window of the given policies, ascending: the list's burn columns."""
    return sorted({w for p in policies for w in p.window_seconds()})


def slo_row_json(
    slo: SLO,
    policy: BurnRatePolicy,
    status: StatusLike | None,
    columns: Sequence[float],
    error: str = "",
) -> dict[str, Any]:
    """One row of the SLO list; `burn[i]` is the burn rate over `columns[i]` (null if unused)."""
    row: dict[str, Any] = {
        "service": slo.service,
        "name": slo.name,
        "objective": slo.objective_ratio,
        "period_s": slo.period_seconds,
        "labels": dict(slo.labels),
        "policy": policy.name,
    }
    if status is None:
        row.update(sli=None, budget=None, burn=[None] * len(columns), state=STATE_ERROR)
        row["error"] = error
        return row
    by_window = {float(w.window_seconds): w.burn_rate for w in status.windows}
    wanted = set(policy.window_seconds())
    row["sli"] = _sli(status)
    row["budget"] = num(status.error_budget_remaining_ratio) if status.has_data else None
    row["burn"] = [
        num(by_window[c]) if c in wanted and c in by_window and status.has_data else None
        for c in columns
    ]
    row["state"] = alert_state(status)
    return row


def status_json(status: StatusLike) -> dict[str, Any]:
    """The full current status of one SLO: every window and every multi-window alert."""
    return {
        "eval_time": status.eval_time_unix_s,
        "has_data": status.has_data,
        "sli": _sli(status),
        "period_error_ratio": num(status.period_error_ratio),
        "budget_consumed": num(status.error_budget_consumed_ratio),
        "budget_remaining": num(status.error_budget_remaining_ratio),
        "state": alert_state(status),
        "windows": [
            {
                "window_s": w.window_seconds,
                "requests": num(w.requests),
                "errors": num(w.errors),
                "error_ratio": num(w.error_ratio),
                "burn_rate": num(w.burn_rate),
            }
            for w in status.windows
        ],
        "alerts": [
            {
                "severity": a.severity,
                "short_window_s": a.short_window_seconds,
                "long_window_s": a.long_window_seconds,
                "factor": num(a.factor),
                "short_burn_rate": num(a.short_burn_rate),
                "long_burn_rate": num(a.long_burn_rate),
                "firing": a.firing,
            }
            for a in status.alerts
        ],
    }


def time_grid(end_unix_s: float, range_seconds: float, points: int = 60) -> list[float]:
    """`points` evaluation times over `(end - range, end]`, aligned to the step so that
    successive polls reuse the same times (charts do not jitter); the last one is `end`."""
    if points < 2 or range_seconds <= 0:
        raise ValueError("time_grid needs at least 2 points over a positive range")
    step = range_seconds / (points - 1)
    last_aligned = math.floor(end_unix_s / step) * step
    times = [last_aligned - (points - 2 - i) * step for i in range(points - 1)]
    return [*times, end_unix_s] if end_unix_s > times[-1] else times


def window_key(seconds: float) -> str:
    """A window as a JSON object key, spelled like JavaScript's `String(seconds)`."""
    return f"{seconds:.0f}" if float(seconds).is_integer() else repr(float(seconds))


def history_json(
    times: Sequence[float], statuses: Sequence[StatusLike | None], policy: BurnRatePolicy
) -> dict[str, Any]:
    """Columns over time: SLI, budget remaining, and the burn rate of every policy window.

    A time without data (or whose evaluation failed) is null in every column, so the chart
    shows a gap instead of a made-up zero.
    """
    windows = policy.window_seconds()
    sli: list[float | str | None] = []
    budget: list[float | str | None] = []
    burn: dict[str, list[float | str | None]] = {window_key(w): [] for w in windows}
    for status in statuses:
        if status is None or not status.has_data:
            sli.append(None)
            budget.append(None)
            for column in burn.values():
                column.append(None)
            continue
        sli.append(_sli(status))
        budget.append(num(status.error_budget_remaining_ratio))
        by_window = {float(w.window_seconds): w.burn_rate for w in status.windows}
        for w in windows:
            burn[window_key(w)].append(num(by_window.get(w)))
    return {"t": list(times), "sli": sli, "budget": budget, "burn": burn}
