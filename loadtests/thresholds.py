"""Pass/fail judgement of a load test from per-interval statistics (pure, no locust import).

A single slow interval (a GC pause, a noisy neighbour) must not fail a run, and a run that
got slow for good must. So every report interval records each endpoint's latencies and
errors, and the judgement looks at the last N intervals only (after the warm-up):
- latency limits (p(95), avg, med, min, max): the MEDIAN of the per-interval aggregate over
  the last N intervals must satisfy the limit (one spike in N does not fail; a sustained
  regression does);
- error ratio (rate): errors / requests POOLED over the last N intervals (pooling weights
  intervals by traffic, so a quiet interval cannot dominate);
- trend: the least-squares slope of the per-interval p95s is reported, so a p95 that is still
  under the limit but climbing is visible in the summary.

Latencies are kept as a histogram of milliseconds rounded the way locust rounds them, so the
statistics of many worker processes merge exactly (sum the histograms).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from loadtests.expressions import DURATION_METRIC, Limit, ThresholdSet

DEFAULT_P95_LIMIT_SECONDS = 1.5
DEFAULT_ERROR_RATIO_LIMIT = 0.01
DEFAULT_LAST_INTERVALS = 6


def round_ms(latency_ms: float) -> int:
    """Locust's rounding: exact below 100 ms, 2 significant digits above (bounded histogram)."""
    if latency_ms < 100:
        return round(latency_ms)
    if latency_ms < 1000:
        return int(round(latency_ms, -1))
    return int(round(latency_ms, -2))


@dataclass
class IntervalStats:
    """Mergeable observations of one endpoint during one report interval."""

    histogram_ms: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    total_ms: float = 0.0  # exact sum, for avg

    @classmethod
    def of(cls, latencies_ms: Sequence[float], errors: int = 0) -> IntervalStats:
        stats = cls()
        for latency in latencies_ms:
            stats.add(latency, failed=False)
        stats.errors = errors
        return stats

    @property
    def requests(self) -> int:
        return sum(self.histogram_ms.values())

    def add(self, latency_ms: float, failed: bool) -> None:
        key = round_ms(latency_ms)
        self.histogram_ms[key] = self.histogram_ms.get(key, 0) + 1
        self.total_ms += latency_ms
        self.errors += int(failed)

    def merge(self, other: IntervalStats) -> None:
        for key, count in other.histogram_ms.items():
            self.histogram_ms[key] = self.histogram_ms.get(key, 0) + count
        self.errors += other.errors
        self.total_ms += other.total_ms

    def percentile_ms(self, q: float) -> float | None:
        """Nearest-rank percentile (what locust and most load tools report); None when empty."""
        n = self.requests
        if n == 0:
            return None
        rank = max(1, math.ceil(q * n - 1e-9))
        seen = 0
        for key in sorted(self.histogram_ms):
            seen += self.histogram_ms[key]
            if seen >= rank:
                return float(key)
        return float(max(self.histogram_ms))

    def aggregate_ms(self, limit: Limit) -> float | None:
        """The per-interval value a latency limit looks at."""
        if not self.requests:
            return None
        q = limit.quantile
        if q is not None:
            return self.percentile_ms(q)
        if limit.aggregation == "avg":
            return self.total_ms / self.requests
        if limit.aggregation == "med":
            return self.percentile_ms(0.5)
        if limit.aggregation == "min":
            return float(min(self.histogram_ms))
        return float(max(self.histogram_ms))

    def error_ratio(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


def default_thresholds(
    p95_limit_seconds: float = DEFAULT_P95_LIMIT_SECONDS,
    error_ratio_limit: float = DEFAULT_ERROR_RATIO_LIMIT,
) -> ThresholdSet:
    """The limits every endpoint gets unless a k6 expression says otherwise."""
    return ThresholdSet(
        every_endpoint=(
            Limit(DURATION_METRIC, "p(95)", "<", p95_limit_seconds * 1000.0),
            Limit("http_req_failed", "rate", "<", error_ratio_limit),
        )
    )


@dataclass(frozen=True)
class LimitResult:
    limit: Limit
    observed: float | None  # ms for latency limits, a ratio for rate; None without traffic
    ok: bool

    def describe(self, intervals: int, errors: int, requests: int) -> str:
        lim = self.limit
        if self.observed is None:
            return f"{lim.expression}: no requests"
        if lim.metric == DURATION_METRIC:
            return (
                f"{lim.expression} failed: {lim.aggregation} {self.observed:.0f} ms "
                f"(median over last {intervals} intervals)"
            )
        return (
            f"{lim.expression} failed: error ratio {self.observed:.2%} "
            f"({errors}/{requests} over last {intervals} intervals)"
        )


@dataclass(frozen=True)
class EndpointJudgement:
    endpoint: str
    intervals_judged: int
    requests: int
    errors: int
    p95_ms: float | None  # median of per-interval p95s
    p95_slope_ms_per_interval: float | None
    error_ratio: float
    results: tuple[LimitResult, ...]
    breaches: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.breaches

    def aborting(self, elapsed_seconds: float) -> list[LimitResult]:
        """Failed abortOnFail limits whose delayAbortEval has passed."""
        return [
            r
            for r in self.results
            if not r.ok
            and r.limit.abort_on_fail
            and elapsed_seconds >= r.limit.delay_abort_eval_seconds
        ]


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def slope(values: Sequence[float]) -> float | None:
    """Least-squares slope per step of an evenly spaced series; None below two points."""
    n = len(values)
    if n < 2:
        return None
    mean_x = (n - 1) / 2
    mean_y = sum(values) / n
    num = sum((i - mean_x) * (y - mean_y) for i, y in enumerate(values))
    den = sum((i - mean_x) ** 2 for i in range(n))
    return num / den


def judge_endpoint(
    endpoint: str,
    intervals: Sequence[IntervalStats],
    limits: Sequence[Limit],
    last_intervals: int = DEFAULT_LAST_INTERVALS,
) -> EndpointJudgement:
    """Judge one endpoint on its last `last_intervals` non-empty intervals."""
    recent = [iv for iv in intervals if iv.requests > 0][-last_intervals:]
    requests = sum(iv.requests for iv in recent)
    errors = sum(iv.errors for iv in recent)
    p95s = [p for iv in recent if (p := iv.percentile_ms(0.95)) is not None]
    error_ratio = errors / requests if requests else 0.0
    results: list[LimitResult] = []
    breaches: list[str] = []
    if not recent:
        breaches.append("no requests after warm-up")
    for limit in limits:
        observed: float | None
        if limit.metric == DURATION_METRIC:
            values = [v for iv in recent if (v := iv.aggregate_ms(limit)) is not None]
            observed = _median(values) if values else None
        else:
            observed = error_ratio if requests else None
        ok = observed is not None and limit.holds(observed)
        result = LimitResult(limit, observed, ok)
        results.append(result)
        if not ok and observed is not None:
            breaches.append(result.describe(len(recent), errors, requests))
    return EndpointJudgement(
        endpoint=endpoint,
        intervals_judged=len(recent),
        requests=requests,
        errors=errors,
        p95_ms=_median(p95s) if p95s else None,
        p95_slope_ms_per_interval=slope(p95s),
        error_ratio=error_ratio,
        results=tuple(results),
        breaches=tuple(breaches),
    )


def judge_run(
    per_endpoint: Mapping[str, Sequence[IntervalStats]],
    thresholds: ThresholdSet,
    last_intervals: int = DEFAULT_LAST_INTERVALS,
) -> list[EndpointJudgement]:
    """Every endpoint seen, plus every endpoint a threshold names (no traffic is a breach)."""
    names = sorted(set(per_endpoint) | set(thresholds.named_endpoints()))
    return [
        judge_endpoint(
            name, per_endpoint.get(name, ()), thresholds.limits_for(name), last_intervals
        )
        for name in names
    ]


def summary_lines(judgements: Sequence[EndpointJudgement]) -> list[str]:
    """Human-readable lines: one per endpoint, then a verdict line."""
    lines = []
    for j in judgements:
        p95 = "n/a" if j.p95_ms is None else f"{j.p95_ms:.0f} ms"
        trend = (
            ""
            if j.p95_slope_ms_per_interval is None
            else f", p95 trend {j.p95_slope_ms_per_interval:+.1f} ms/interval"
        )
        state = "OK" if j.ok else "BREACH: " + "; ".join(j.breaches)
        lines.append(
            f"{j.endpoint:<22} p95 {p95}, errors {j.error_ratio:.2%} of {j.requests}"
            f"{trend} -> {state}"
        )
    lines.append(verdict_line(judgements))
    return lines


def verdict_line(judgements: Sequence[EndpointJudgement]) -> str:
    failed = [j.endpoint for j in judgements if not j.ok]
    if failed:
        return "thresholds breached by: " + ", ".join(failed)
    if not judgements:
        return "thresholds breached by: (no requests after warm-up)"
    return "all thresholds met"
