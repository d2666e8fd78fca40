"""From the store's window sums to the judge's (guard, observation) pairs.

Time grid (docs/canary.md, "Exact replay"). The store keeps 10 s slots for the last 10m40s
only and then coarser ones, and its rings advance with the newest sample of any series, so
a window summed at 10 s resolution would change once other data moves the rings on. So:
- a replay (explicit eval time) is read on the 1-minute grid: both window edges are rounded
  down to the minute, which the 1-minute ring keeps for 2h16m, so the verdict does not depend
  on what was ingested after it (for a 1 h window: while eval_time is within about 1 h of
  the newest data);
- a live verdict is read up to the end of the current, partial 10 s slot (the freshest
  data counts), with the far edge on the minute grid.

The store keeps one latency bucket layout for every series, so a variant that never sent
a histogram shows all-zero bucket counts; that is read as "no histogram" (the latency
guard is then INCONCLUSIVE), not as "every request slower than the last bound".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from sloengine import conventions
from sloengine.canary._config import ServiceCanaryConfig
from sloengine.maths.bad_events import push_refusal
from sloengine.maths.judge import (
    ErrorRatioGuard,
    Guard,
    LatencyQuantileGuard,
    Observation,
    VariantWindow,
)
from sloengine.model import SLO, NativeSLI

__all__ = [
    "REPLAY_GRID_SECONDS",
    "SLOT_SECONDS",
    "Subject",
    "WindowSource",
    "build_checks",
    "window_edges",
]

SLOT_SECONDS = 10.0
REPLAY_GRID_SECONDS = 60.0


class WindowSumLike(Protocol):
    @property
    def requests(self) -> float: ...
    @property
    def errors(self) -> float: ...
    @property
    def latency_bounds_seconds(self) -> tuple[float, ...]: ...
    @property
    def latency_counts(self) -> tuple[float, ...]: ...
    def count_at_or_below(self, threshold_s: float) -> float: ...


class WindowSource(Protocol):
    """What the adapter needs from `sloengine.store.SeriesStore`."""

    def window_sum(
        self, selector: Mapping[str, str], window_seconds: float, at_unix_s: float
    ) -> WindowSumLike: ...


def _variant_window(ws: WindowSumLike, errors: float | None = None) -> VariantWindow:
    has_histogram = ws.requests > 0 and sum(ws.latency_counts) > 0
    bad = ws.errors if errors is None else errors
    return VariantWindow(
        requests=ws.requests,
        errors=min(max(bad, 0.0), ws.requests),
        latency_bounds_seconds=tuple(ws.latency_bounds_seconds) if has_histogram else (),
        latency_counts=tuple(ws.latency_counts) if has_histogram else (),
    )


def window_edges(
    seconds: float, at: float, *, live: bool, far_grid: float = REPLAY_GRID_SECONDS
) -> tuple[float, float]:
    """(start, end] of a window of `seconds` at time `at` on the grid described above.

    `far_grid` rounds the far edge (down); a live canary span uses the 10 s slots."""
    if live:
        end = math.ceil(at / SLOT_SECONDS) * SLOT_SECONDS
    else:
        end = math.floor(at / REPLAY_GRID_SECONDS) * REPLAY_GRID_SECONDS
    start = math.floor((end - seconds) / far_grid) * far_grid
    return start, end


@dataclass(frozen=True)
class Subject:
    """What is judged: the canary variant (of one revision, if given) against the baseline."""

    canary: str
    baseline: str
    revision: str = ""
    # Unix time the canary's analysis starts (a new revision tag over unlabelled data):
    # none of the canary's data before it is read. None: the whole windows.
    since: float | None = None


def _observe(
    source: WindowSource,
    selector: Mapping[str, str],
    subject: Subject,
    short_s: float,
    long_s: float,
    at: float,
    live: bool,
    bad_events: Callable[[WindowSumLike], float] | None = None,
) -> Observation:
    # A live span is found to the 10 s slot: a canary in its first minute must not be
    # compared with a baseline minute that started before it (an outage that began with
    # the canary would look like the canary's). Replays stay on the minute grid.
    grid = SLOT_SECONDS if live else REPLAY_GRID_SECONDS

    def canary_sum(labels: Mapping[str, str], start: float, end: float) -> WindowSumLike:
        if subject.since is not None and start < subject.since:
            return _sum_since(source, labels, subject.since, end, live)
        return source.window_sum(labels, end - start, end)

    def window(
        variant: str, seconds: float, revision: str, far_grid: float = REPLAY_GRID_SECONDS
    ) -> VariantWindow:
        start, end = window_edges(seconds, at, live=live, far_grid=far_grid)
        labels = {**selector, conventions.LABEL_VARIANT: variant}
        if revision:
            labels[conventions.LABEL_REVISION] = revision
        if variant == subject.canary:
            ws = canary_sum(labels, start, end)
        else:
            ws = source.window_sum(labels, end - start, end)
        return _variant_window(ws, None if bad_events is None else bad_events(ws))

    rev = subject.revision
    canary_long = window(subject.canary, long_s, rev)
    span = _canary_span(
        lambda seconds: window(subject.canary, seconds, rev, grid), canary_long, long_s, grid
    )
    paired = None
    if live:
        lagging = _baseline_reported_end(source, selector, subject.baseline, at)
        if lagging is not None:
            start, _ = window_edges(long_s, at, live=live)
            labels = {**selector, conventions.LABEL_VARIANT: subject.canary}
            if rev:
                labels[conventions.LABEL_REVISION] = rev
            ws = canary_sum(labels, start, lagging)
            paired = _variant_window(ws, None if bad_events is None else bad_events(ws))
    return Observation(
        canary_short=window(subject.canary, short_s, rev),
        canary_long=canary_long,
        baseline_short=window(subject.baseline, short_s, ""),
        baseline_long=window(subject.baseline, span, "", grid),
        short_window_seconds=short_s,
        long_window_seconds=long_s,
        canary_paired=paired,
    )


# The grids a canary analysis start is rounded up to, finest first: the store rounds a
# far edge older than a ring's retention to that ring's slots (to the nearest, possibly
# earlier), so a coarser grid is tried until the sum really starts at or after `since`.
SINCE_GRIDS = (SLOT_SECONDS, 60.0, 600.0, 3600.0, 21600.0)


def _sum_since(
    source: WindowSource, labels: Mapping[str, str], since: float, end: float, live: bool
) -> WindowSumLike:
    """The sum over (start, end] with start the first grid edge at or after `since`.

    Rounding up, not down: a slot of the previous revision must not leak in (the next
    revision's first seconds are left out instead). Replays stay on the minute grid.
    """
    grids = SINCE_GRIDS if live else SINCE_GRIDS[1:]
    ws: WindowSumLike | None = None
    for grid in grids:
        start = min(math.ceil(since / grid) * grid, end)
        ws = source.window_sum(labels, end - start, end)
        if float(getattr(ws, "start_unix_s", start)) >= since - 1e-6 or start >= end:
            return ws
    assert ws is not None
    return ws


MAX_REPORT_LAG_SLOTS = 6


def _baseline_reported_end(
    source: WindowSource, selector: Mapping[str, str], baseline: str, at: float
) -> float | None:
    """The end of the baseline's newest reported slot when it is behind the live end.

    Sidecars push on their own schedules: the canary's newest slot may be in while the
    baseline's is not yet. Compared over that slot, an outage both variants share would
    look like the canary's (its bad events there, the baseline's still on the way), so the
    relative test pairs the canary with the slots the baseline has reported. None when the
    baseline has the newest slot, or nothing in the last minute (no pairing to be had).
    """
    end = math.ceil(at / SLOT_SECONDS) * SLOT_SECONDS
    labels = {**selector, conventions.LABEL_VARIANT: baseline}
    for lag in range(MAX_REPORT_LAG_SLOTS + 1):
        slot_end = end - lag * SLOT_SECONDS
        if source.window_sum(labels, SLOT_SECONDS, slot_end).requests > 0:
            return None if lag == 0 else slot_end
    return None


def _canary_span(
    canary: Callable[[float], VariantWindow], whole: VariantWindow, long_s: float, grid: float
) -> float:
    """The shortest window on `grid` holding every canary request of the long one.

    The baseline is compared over this span only: a stable variant that ran an hour before
    the canary started must not dilute the baseline's share of a shared outage that hits
    both after the canary started (the relative test conditions on bad events at the
    same times). A binary search over whole grid steps: a few window sums.
    """
    steps = max(1, math.ceil(long_s / grid))
    if whole.requests <= 0:
        return long_s
    target = whole.requests * (1 - 1e-9)
    lo, hi = 1, steps
    while lo < hi:
        mid = (lo + hi) // 2
        if canary(mid * grid).requests >= target:
            hi = mid
        else:
            lo = mid + 1
    return min(lo * grid, long_s)


def _slo_bad_events(sli: NativeSLI) -> Callable[[WindowSumLike], float]:
    if sli.kind == "latency" and sli.latency_threshold_seconds is not None:
        threshold = sli.latency_threshold_seconds
        return lambda ws: ws.requests - ws.count_at_or_below(threshold)
    return lambda ws: ws.errors


def build_checks(
    source: WindowSource,
    service: str,
    subject: Subject,
    cfg: ServiceCanaryConfig,
    slos: Sequence[SLO],
    short_s: float,
    long_s: float,
    at: float,
    *,
    live: bool = False,
) -> list[tuple[Guard, Observation]]:
    """Every configured guard of the service with its observation at time `at`.

    The baseline is not filtered by revision: it is whatever the stable variant runs.
    """
    selector = {**dict(cfg.selector), conventions.LABEL_SERVICE: service}
    checks: list[tuple[Guard, Observation]] = []
    if "error_ratio" in cfg.guards or "latency_p95" in cfg.guards:
        obs = _observe(source, selector, subject, short_s, long_s, at, live)
        if "error_ratio" in cfg.guards:
            checks.append((ErrorRatioGuard(max_ratio=cfg.max_error_ratio), obs))
        if "latency_p95" in cfg.guards:
            name = f"latency_p{cfg.latency_quantile * 100:g}"
            latency = LatencyQuantileGuard(
                name=name, quantile=cfg.latency_quantile, max_seconds=cfg.max_p95_seconds
            )
            checks.append((latency, obs))
    if "slo_burn" in cfg.guards and cfg.max_burn_rate > 0:
        for slo in slos:
            budget = slo.error_budget_ratio
            max_ratio = cfg.max_burn_rate * budget
            # PromQL SLIs live in Prometheus, not in the store; a burn rate that needs
            # more than every request to fail can never fire.
            if not isinstance(slo.sli, NativeSLI) or budget <= 0 or max_ratio >= 1:
                continue
            # Bad events the pushed counts cannot express (bad_events.push_refusal): no
            # guard, rather than a guard on the 5xx ratio instead.
            if push_refusal(slo) is not None:
                continue
            slo_obs = _observe(
                source, dict(slo.sli.selector), subject, short_s, long_s, at, live,
                _slo_bad_events(slo.sli),
            )  # fmt: skip
            guard = ErrorRatioGuard(
                name=f"slo_burn:{slo.name}", max_ratio=max_ratio, value_scale=1.0 / budget, unit="x"
            )
            checks.append((guard, slo_obs))
    return checks
