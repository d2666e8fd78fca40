"""An SLO under one burn-rate policy, replayed over a history at every evaluation step.

Vectorised over time with the array forms of `sloengine.maths.burn` (the functions the engine's
`evaluate` uses), on the windows `evaluate.status_windows` names: at each time t every
window's requests and errors are the history's sums over `(t - w, t]`, like the store's
`window_sum`. An alert fires where `burn.multiwindow_firing` holds for any of its
severity's window pairs (the rules OR them), and resolves at the first step where none does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sloengine.engine.evaluate import alert_enabled, status_windows
from sloengine.maths import burn
from sloengine.maths.bad_events import push_refusal
from sloengine.maths.timeslices import is_timeslices, timeslice_refusal
from sloengine.model import SLO, BurnRatePolicy, NativeSLI
from sloengine.replay._history import LATENCY_REQUESTS, History, le_column
from sloengine.replay._slices import WindowCounter, slice_window_counter
from sloengine.replay._sums import SeriesSums
from sloengine.replay.errors import ReplayError

__all__ = ["AlertSpan", "ChartSeries", "SLOReplay", "replay_slo"]

F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class AlertSpan:
    """One alert episode: fired at the first firing step, resolved at the first quiet one.

    `resolved_at_s` is None when still firing at the end of the replay. `budget_spent_ratio`:
    the errors from one long window before it fired until it resolved, as a share of the
    period's error budget at resolution (`burn.budget_consumed`).
    """

    severity: str
    fired_at_s: float
    resolved_at_s: float | None
    minutes: float
    budget_spent_ratio: float
    firing_at_start: bool  # already firing at the first step (history before the replay)


@dataclass(frozen=True)
class ChartSeries:
    """Downsampled curves for charts: per bucket of steps, the max burn rate, the min
    budget remaining and SLI, and whether the alert fired at any step."""

    times_s: F64
    burn_rates: dict[float, F64]  # window seconds -> burn rate
    budget_remaining: F64
    sli: F64
    firing: dict[str, Bool]


@dataclass(frozen=True)
class SLOReplay:
    """The replay of one SLO under one policy (and objective)."""

    slo: SLO
    policy: BurnRatePolicy
    windows_seconds: tuple[float, ...]
    step_seconds: float
    first_s: float
    last_s: float
    alerts: tuple[AlertSpan, ...]
    alert_minutes: dict[str, float]  # severity -> minutes firing
    budget_remaining_end: float
    budget_remaining_min: float
    sli_end: float  # good ratio over the period at the last step
    requests: float  # over the replayed range
    errors: float
    chart: ChartSeries
    variant: str = ""  # what was tried: the policy, and the objective when overridden

    @property
    def label(self) -> str:
        return self.variant or self.policy.name


def _bad_column(slo: SLO, history: History) -> str:
    sli = slo.sli
    if not isinstance(sli, NativeSLI):
        raise ReplayError(slo.id, "only native SLIs (availability, latency) replay from history")
    refusal = push_refusal(slo)
    if refusal is not None:
        raise ReplayError(slo.id, refusal)
    if sli.kind != "latency":
        return "errors"
    if sli.latency_threshold_seconds is None:
        raise ReplayError(slo.id, "a latency SLI needs a threshold")
    column = le_column(sli.latency_threshold_seconds)
    if column not in history.frame.columns:
        raise ReplayError(history.source, f"no {column} column for {slo.id}'s latency threshold")
    return column


def _window_counts(sums: SeriesSums, bad: str, at_s: F64, window_s: float) -> tuple[F64, F64]:
    """(events, bad events) per time, as `bad_events.bad_and_total` defines them: latency
    counts only requests with latency data, bad = slower than the threshold (clamped)."""
    if bad == "errors":
        return sums.window_sums("requests", at_s, window_s), sums.window_sums(bad, at_s, window_s)
    total = sums.window_sums(LATENCY_REQUESTS, at_s, window_s)
    return total, np.maximum(total - sums.window_sums(bad, at_s, window_s), 0.0)


def _runs(firing: Bool) -> list[tuple[int, int]]:
    """(first, end) index pairs of consecutive True runs; end is exclusive."""
    edges = np.diff(np.r_[0, firing.astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def _pool(values: F64, size: int, how: str) -> F64:
    """Reduce consecutive buckets of `size` values to their max or min."""
    starts = np.arange(0, len(values), size)
    if how == "max":
        return np.maximum.reduceat(values, starts)
    return np.minimum.reduceat(values, starts)


def _episodes(
    firing: dict[str, Bool],
    times_s: F64,
    policy: BurnRatePolicy,
    count: WindowCounter,
    period_events: F64,
    objective: float,
) -> tuple[AlertSpan, ...]:
    """Each run of firing steps as an AlertSpan (see its docstring), ordered by time."""
    step = float(times_s[1] - times_s[0]) if len(times_s) > 1 else 60.0
    out = []
    for severity, fires in firing.items():
        detection = max(b.long_window_seconds for b in policy.windows if b.severity == severity)
        for first, end in _runs(fires):
            fired = float(times_s[first])
            resolved = float(times_s[end]) if end < len(times_s) else None
            until = resolved if resolved is not None else float(times_s[-1])
            events, bad = count(np.array([until]), until - fired + detection)
            at_end = float(period_events[min(end, len(times_s) - 1)])
            spent = burn.budget_consumed(float(bad[0]), at_end, objective) if events[0] > 0 else 0.0
            minutes = float(end - first) * step / 60.0
            out.append(
                AlertSpan(severity, fired, resolved, minutes, float(spent), bool(first == 0))
            )
    return tuple(sorted(out, key=lambda a: (a.fired_at_s, a.severity)))


def replay_slo(
    slo: SLO, policy: BurnRatePolicy, history: History, times_s: F64, chart_points: int = 1500
) -> SLOReplay:
    """Replay `slo` under `policy` at every time of `times_s` (ascending, evenly spaced)."""
    if len(times_s) == 0:
        raise ReplayError("--from/--to", "the replay range holds no evaluation step")
    bad = _bad_column(slo, history)
    total = "requests" if bad == "errors" else LATENCY_REQUESTS
    sums = history.sums(dict(slo.sli.selector), (total, bad))  # type: ignore[union-attr]
    step = float(times_s[1] - times_s[0]) if len(times_s) > 1 else 60.0
    windows = status_windows(slo, policy)

    def events(at_s: F64, window_s: float) -> tuple[F64, F64]:
        return _window_counts(sums, bad, at_s, window_s)

    count: WindowCounter = events
    if is_timeslices(slo):
        refusal = timeslice_refusal(slo, policy.window_seconds())
        if refusal is not None:
            raise ReplayError(slo.id, refusal)
        first, last = float(times_s[0]), float(times_s[-1])
        count = slice_window_counter(slo, events, first, last, max(windows))
    ratios: dict[float, F64] = {}
    for w in windows:
        requests, errors = count(times_s, w)
        ratios[w] = burn.error_ratio_array(errors, requests)
    objective = slo.objective_ratio
    period_requests, _ = count(times_s, slo.period_seconds)
    consumed = burn.burn_rate_array(ratios[float(slo.period_seconds)], objective)
    remaining = 1.0 - consumed
    firing: dict[str, Bool] = {}
    for bw in policy.windows:
        if not alert_enabled(slo, bw.severity):
            continue
        pair = burn.multiwindow_firing_array(
            ratios[bw.short_window_seconds], ratios[bw.long_window_seconds], bw.factor, objective
        )
        firing[bw.severity] = firing[bw.severity] | pair if bw.severity in firing else pair
    alerts = _episodes(firing, times_s, policy, count, period_requests, objective)
    total_req, total_err = events(
        np.array([float(times_s[-1])]), float(times_s[-1] - times_s[0]) + step
    )
    size = max(1, -(-len(times_s) // max(1, chart_points)))
    chart = ChartSeries(
        times_s=times_s[::size].copy(),
        burn_rates={
            w: _pool(burn.burn_rate_array(r, objective), size, "max") for w, r in ratios.items()
        },
        budget_remaining=_pool(remaining, size, "min"),
        sli=_pool(1.0 - ratios[float(slo.period_seconds)], size, "min"),
        firing={s: _pool(f.astype(np.float64), size, "max") > 0 for s, f in firing.items()},
    )
    return SLOReplay(
        slo=slo,
        policy=policy,
        windows_seconds=windows,
        step_seconds=step,
        first_s=float(times_s[0]),
        last_s=float(times_s[-1]),
        alerts=alerts,
        alert_minutes={s: float(f.sum()) * step / 60.0 for s, f in firing.items()},
        budget_remaining_end=float(remaining[-1]),
        budget_remaining_min=float(remaining.min()),
        sli_end=float(1.0 - ratios[float(slo.period_seconds)][-1]),
        requests=float(total_req[0]),
        errors=float(total_err[0]),
        chart=chart,
    )
