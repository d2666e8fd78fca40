"""An SLO's status at one instant: per-window error ratios and burn rates, error budget,
and which of its policy's multi-window alerts would fire.

`evaluate_slo` reads pushed series (NativeSLI) from a `SeriesStore`; `status_from_windows`
turns per-window counts from anywhere (the pull mode's Prometheus queries) into the same
result, so both paths share one set of maths (`sloengine.maths.burn`). Results mirror the proto
`SLOStatus` / `WindowStatus` / `AlertStatus` field by field.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from sloengine.errors import UnsupportedSLOError
from sloengine.maths import burn
from sloengine.maths.bad_events import bad_and_total, push_refusal
from sloengine.maths.timeslices import SliceLedger, is_timeslices, slice_error, timeslice_refusal
from sloengine.model import SLO, BurnRatePolicy, NativeSLI
from sloengine.store import SeriesStore

# A latency SLO whose selected series sent requests without latency buckets.
NO_LATENCY_DATA = "no latency data"
# Slices this recent are recomputed at every evaluation: pushes may arrive late.
SLICE_SETTLE_SECONDS = 300

__all__ = [
    "AlertStatusResult",
    "SLOStatusResult",
    "WindowCounts",
    "WindowStatusResult",
    "alert_enabled",
    "evaluate_slo",
    "fill_slices",
    "native_window_counts",
    "new_slice_ledger",
    "status_from_windows",
    "status_windows",
]


class WindowCountsLike(Protocol):
    """One window's SLI: counts, or for ratio-only SLIs just `error_ratio` (counts 0)."""

    @property
    def window_seconds(self) -> float: ...
    @property
    def requests(self) -> float: ...
    @property
    def errors(self) -> float: ...
    @property
    def error_ratio(self) -> float: ...
    @property
    def has_data(self) -> bool: ...


@dataclass(frozen=True)
class WindowCounts:
    """A window's requests and errors; `error_ratio` follows burn.error_ratio."""

    window_seconds: float
    requests: float
    errors: float

    @property
    def error_ratio(self) -> float:
        return burn.error_ratio(self.errors, self.requests)

    @property
    def has_data(self) -> bool:
        return self.requests > 0


@dataclass(frozen=True)
class WindowStatusResult:
    window_seconds: float
    requests: float
    errors: float
    error_ratio: float  # 0 when there were no requests
    burn_rate: float  # error_ratio / (1 - objective)


@dataclass(frozen=True)
class AlertStatusResult:
    severity: str
    short_window_seconds: float
    long_window_seconds: float
    factor: float
    short_burn_rate: float
    long_burn_rate: float
    firing: bool


@dataclass(frozen=True)
class SLOStatusResult:
    slo: SLO
    policy: str
    eval_time_unix_s: float
    windows: tuple[WindowStatusResult, ...]  # every policy window, plus the period; ascending
    period_error_ratio: float
    error_budget_consumed_ratio: float
    error_budget_remaining_ratio: float  # 1 - consumed (negative once overspent)
    alerts: tuple[AlertStatusResult, ...]
    has_data: bool
    # Why there is no data, when known: NO_LATENCY_DATA ("" otherwise).
    no_data_reason: str = ""

    def window(self, seconds: float) -> WindowStatusResult | None:
        for w in self.windows:
            if w.window_seconds == seconds:
                return w
        return None


def status_windows(slo: SLO, policy: BurnRatePolicy) -> tuple[float, ...]:
    """The windows a status reports: every policy window plus the SLO period, ascending."""
    return tuple(sorted({*policy.window_seconds(), float(slo.period_seconds)}))


def native_window_counts(
    slo: SLO, store: SeriesStore, windows_seconds: Iterable[float], at_unix_s: float
) -> list[WindowCounts]:
    """A NativeSLI's events and bad events per window, read from the store.

    Bad events as `sloengine.maths.bad_events` defines them: availability, the pushed 5xx counts
    (UnsupportedSLOError for another error status regex); latency, requests slower than
    the threshold among the requests of series that pushed latency buckets.
    """
    sli = slo.sli
    if not isinstance(sli, NativeSLI):
        raise TypeError(f"{slo.id}: only NativeSLI is computed from pushed series")
    if sli.kind == "latency" and sli.latency_threshold_seconds is None:
        raise ValueError(f"{slo.id}: a latency SLI needs latency_threshold_seconds")
    refusal = push_refusal(slo)
    if refusal is not None:
        raise UnsupportedSLOError(refusal)
    out = []
    for window in windows_seconds:
        errors, requests = bad_and_total(sli, store.window_sum(sli.selector, window, at_unix_s))
        out.append(WindowCounts(window, requests, errors))
    return out


def _no_data_reason(slo: SLO, store: SeriesStore, at_unix_s: float) -> str:
    """`NO_LATENCY_DATA` when a latency SLO's series sent requests but no latency buckets."""
    sli = slo.sli
    if isinstance(sli, NativeSLI) and sli.kind == "latency":
        ws = store.window_sum(sli.selector, slo.period_seconds, at_unix_s)
        if ws.requests_without_latency > 0 and ws.latency_requests <= 0:
            return NO_LATENCY_DATA
    return ""


def _exact_slice_age(store: SeriesStore, slice_seconds: float) -> float:
    """How far back the store still holds a slice at the slice's own resolution."""
    spans = [
        lv.span_seconds - lv.resolution_seconds
        for lv in store.levels
        if slice_seconds % lv.resolution_seconds == 0
    ]
    return float(max(spans, default=0))


def fill_slices(slo: SLO, ledger: SliceLedger, store: SeriesStore, at_unix_s: float) -> None:
    """Record in `ledger` every slice of `slo` the store still holds exactly and the ledger
    lacks, and re-record the last `SLICE_SETTLE_SECONDS` (samples may arrive late)."""
    sli = slo.sli
    if not isinstance(sli, NativeSLI):
        raise TypeError(f"{slo.id}: only NativeSLI is computed from pushed series")
    s = ledger.slice_seconds
    last = math.floor(at_unix_s / s + 1e-9) * s
    oldest = max(last - slo.period_seconds + s, at_unix_s - _exact_slice_age(store, s))
    first = math.ceil(oldest / s - 1e-9) * s
    if first > last:
        return
    settle_from = last - SLICE_SETTLE_SECONDS
    numbers = {int(k) for k in ledger.missing(first, last)}
    numbers.update(range(math.ceil(max(first, settle_from) / s), round(last / s) + 1))
    for k in sorted(numbers):
        end = k * s
        errors, requests = bad_and_total(sli, store.window_sum(sli.selector, s, end))
        ledger.record(end, slice_error(slo, errors, requests))


def new_slice_ledger(slo: SLO) -> SliceLedger:
    """An empty ledger sized for `slo`'s period and slices."""
    if slo.timeslice_window_seconds is None:
        raise ValueError(f"{slo.id}: not a timeslices SLO")
    return SliceLedger(slo.timeslice_window_seconds, slo.period_seconds)


def evaluate_slo(
    slo: SLO,
    policy: BurnRatePolicy,
    store: SeriesStore,
    at_unix_s: float,
    ledger: SliceLedger | None = None,
) -> SLOStatusResult:
    """The status of a NativeSLI SLO at `at_unix_s` from the pushed series in `store`.

    Timeslices SLOs read their slices from `ledger` (filled here from the store); pass the
    same ledger on every call, or only the slices the store still holds exactly count.
    """
    windows = status_windows(slo, policy)
    if is_timeslices(slo):
        refusal = push_refusal(slo) or timeslice_refusal(slo, policy.window_seconds())
        if refusal is not None:
            raise UnsupportedSLOError(refusal)
        ledger = new_slice_ledger(slo) if ledger is None else ledger
        fill_slices(slo, ledger, store, at_unix_s)
        counts: Sequence[WindowCountsLike] = [ledger.window(w, at_unix_s) for w in windows]
    else:
        counts = native_window_counts(slo, store, windows, at_unix_s)
    status = status_from_windows(slo, policy, counts, at_unix_s)
    if not status.has_data:
        status = replace(status, no_data_reason=_no_data_reason(slo, store, at_unix_s))
    return status


def status_from_windows(
    slo: SLO, policy: BurnRatePolicy, windows: Sequence[WindowCountsLike], at_unix_s: float
) -> SLOStatusResult:
    """Build the status from per-window SLI values (one per `status_windows(slo, policy)`).

    Pure: the pull mode passes what Prometheus returned, evaluate_slo what the store holds.
    """
    objective = slo.objective_ratio
    by_window = {float(w.window_seconds): w for w in windows}
    missing = [w for w in status_windows(slo, policy) if w not in by_window]
    if missing:
        raise ValueError(f"{slo.id}: no counts for windows {missing}")
    statuses = tuple(
        WindowStatusResult(
            window_seconds=seconds,
            requests=w.requests,
            errors=w.errors,
            error_ratio=w.error_ratio,
            burn_rate=burn.burn_rate(w.error_ratio, objective),
        )
        for seconds, w in sorted(by_window.items())
    )
    period = by_window[float(slo.period_seconds)]
    consumed = burn.burn_rate(period.error_ratio, objective)
    alerts = []
    for bw in policy.windows:
        if not _alert_enabled(slo, bw.severity):
            continue
        short = by_window[float(bw.short_window_seconds)].error_ratio
        long = by_window[float(bw.long_window_seconds)].error_ratio
        alerts.append(
            AlertStatusResult(
                severity=bw.severity,
                short_window_seconds=bw.short_window_seconds,
                long_window_seconds=bw.long_window_seconds,
                factor=bw.factor,
                short_burn_rate=burn.burn_rate(short, objective),
                long_burn_rate=burn.burn_rate(long, objective),
                firing=burn.multiwindow_firing(short, long, bw.factor, objective),
            )
        )
    return SLOStatusResult(
        slo=slo,
        policy=policy.name,
        eval_time_unix_s=at_unix_s,
        windows=statuses,
        period_error_ratio=period.error_ratio,
        error_budget_consumed_ratio=consumed,
        error_budget_remaining_ratio=1.0 - consumed,
        alerts=tuple(alerts),
        has_data=any(w.has_data for w in windows),
    )


def alert_enabled(slo: SLO, severity: str) -> bool:
    """Whether the SLO alerts at this severity at all (its alerting may disable one or both)."""
    return _alert_enabled(slo, severity)


def _alert_enabled(slo: SLO, severity: str) -> bool:
    alerting = slo.alerting
    if alerting.disable:
        return False
    return not (alerting.page if severity == "page" else alerting.ticket).disable
