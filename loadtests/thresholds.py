"""Pass/fail judgement of a load test from per-interval statistics (pure, no locust import).

A single slow interval (a GC pause, a noisy neighbour) must not fail a run, and a run that
got slow for good must. So every report interval records each endpoint's latencies and
errors, and the judgement looks at the last N intervals only (after the warm-up):
- p95: the MEDIAN of the per-interval p95s over the last N intervals must stay below the
  limit (one spike in N does not fail; a sustained regression does);
- error ratio: errors / requests POOLED over the last N intervals must stay below the limit
  (pooling weights intervals by traffic, so a quiet interval cannot dominate);
- trend: the least-squares slope of the per-interval p95s is reported, so a p95 that is still
  under the limit but climbing is visible in the summary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

DEFAULT_P95_LIMIT_SECONDS = 1.5
DEFAULT_ERROR_RATIO_LIMIT = 0.01
DEFAULT_LAST_INTERVALS = 6


@dataclass
class IntervalStats:
    """Raw observations of one endpoint during one report interval."""

    latencies_seconds: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def requests(self) -> int:
        return len(self.latencies_seconds)

    def p95_seconds(self) -> float | None:
        return percentile(self.latencies_seconds, 0.95)


@dataclass(frozen=True)
class Thresholds:
    p95_limit_seconds: float = DEFAULT_P95_LIMIT_SECONDS
    error_ratio_limit: float = DEFAULT_ERROR_RATIO_LIMIT
    last_intervals: int = DEFAULT_LAST_INTERVALS


@dataclass(frozen=True)
class EndpointJudgement:
    endpoint: str
    intervals_judged: int
    requests: int
    p95_seconds: float | None  # median of per-interval p95s
    p95_slope_seconds_per_interval: float | None
    error_ratio: float
    breaches: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.breaches


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (what locust and most load tools report); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _slope(values: Sequence[float]) -> float | None:
    n = len(values)
    if n < 2:
        return None
    mean_x = (n - 1) / 2
    mean_y = sum(values) / n
    num = sum((i - mean_x) * (y - mean_y) for i, y in enumerate(values))
    den = sum((i - mean_x) ** 2 for i in range(n))
    return num / den


def judge_endpoint(
    endpoint: str, intervals: Sequence[IntervalStats], thresholds: Thresholds
) -> EndpointJudgement:
    """Judge one endpoint on its last `thresholds.last_intervals` non-empty intervals."""
    recent = [iv for iv in intervals if iv.requests > 0][-thresholds.last_intervals :]
    requests = sum(iv.requests for iv in recent)
    errors = sum(iv.errors for iv in recent)
    p95s = [p for iv in recent if (p := iv.p95_seconds()) is not None]
    p95 = _median(p95s) if p95s else None
    error_ratio = errors / requests if requests else 0.0
    breaches: list[str] = []
    if not recent:
        breaches.append("no requests after warm-up")
    if p95 is not None and p95 >= thresholds.p95_limit_seconds:
        breaches.append(
            f"p95 {p95 * 1000:.0f} ms >= {thresholds.p95_limit_seconds * 1000:.0f} ms "
            f"(median over last {len(recent)} intervals)"
        )
    if error_ratio >= thresholds.error_ratio_limit:
        breaches.append(
            f"error ratio {error_ratio:.2%} >= {thresholds.error_ratio_limit:.2%} "
            f"({errors}/{requests} over last {len(recent)} intervals)"
        )
    return EndpointJudgement(
        endpoint, len(recent), requests, p95, _slope(p95s), error_ratio, tuple(breaches)
    )


def judge_run(
    per_endpoint: dict[str, Sequence[IntervalStats]], thresholds: Thresholds
) -> list[EndpointJudgement]:
    return [judge_endpoint(name, ivs, thresholds) for name, ivs in sorted(per_endpoint.items())]


def summary_lines(judgements: Sequence[EndpointJudgement]) -> list[str]:
    """Human-readable lines: one per endpoint, then a verdict line."""
    lines = []
    for j in judgements:
        p95 = "n/a" if j.p95_seconds is None else f"{j.p95_seconds * 1000:.0f} ms"
        slope = (
            ""
            if j.p95_slope_seconds_per_interval is None
            else f", p95 trend {j.p95_slope_seconds_per_interval * 1000:+.1f} ms/interval"
        )
        state = "OK" if j.ok else "BREACH: " + "; ".join(j.breaches)
        lines.append(
            f"{j.endpoint:<22} p95 {p95}, errors {j.error_ratio:.2%} of {j.requests}"
            f"{slope} -> {state}"
        )
    failed = [j.endpoint for j in judgements if not j.ok]
    lines.append("thresholds breached by: " + ", ".join(failed) if failed else "all thresholds met")
    return lines
