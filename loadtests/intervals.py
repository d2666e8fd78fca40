"""Per-interval statistics that travel from locust workers to the master (pure, no locust).

Every process that runs users records each request into a bucket keyed by
(endpoint, variant, phase, interval index). Interval indexes are wall-clock aligned
(index = floor(epoch seconds / interval)), so buckets from different workers of the same
run line up without any coordination. A worker drains its buckets into every stats report
it sends (locust's report_to_master event, every few seconds and once more on quit); the
master merges them. The buckets are histograms, so merging is exact: the master's
percentiles equal those of one process that had seen every request.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from loadtests.thresholds import IntervalStats

# [endpoint, variant, phase, index, [[ms, count], ...], errors, total_ms, first_at, last_at]
WireRow = list[Any]
BucketKey = tuple[str, str, str, int]


def interval_index(at_epoch_seconds: float, interval_seconds: float) -> int:
    return math.floor(at_epoch_seconds / interval_seconds)


@dataclass(frozen=True)
class PhaseTotals:
    """Pooled statistics of one variant during one phase (rollout step) of the run."""

    phase: str
    variant: str
    first_at: float  # epoch seconds of the first and last request seen in this phase
    last_at: float
    stats: IntervalStats


class IntervalBook:
    """Buckets of IntervalStats; a recorder on workers, an aggregator on the master."""

    def __init__(self, interval_seconds: float) -> None:
        if not interval_seconds > 0:
            raise ValueError(f"interval must be > 0 seconds, got {interval_seconds!r}")
        self.interval_seconds = interval_seconds
        self.buckets: dict[BucketKey, IntervalStats] = {}
        self.seen: dict[BucketKey, tuple[float, float]] = {}  # first and last request times
        self.rejected_rows = 0

    def index_of(self, at_epoch_seconds: float) -> int:
        return interval_index(at_epoch_seconds, self.interval_seconds)

    def start_of(self, index: int) -> float:
        return index * self.interval_seconds

    def record(
        self,
        endpoint: str,
        variant: str,
        phase: str,
        at_epoch_seconds: float,
        latency_ms: float,
        failed: bool,
    ) -> None:
        key = (endpoint, variant, phase, self.index_of(at_epoch_seconds))
        stats = self.buckets.get(key)
        if stats is None:
            stats = self.buckets[key] = IntervalStats()
            self.seen[key] = (at_epoch_seconds, at_epoch_seconds)
        else:
            first, last = self.seen[key]
            self.seen[key] = (min(first, at_epoch_seconds), max(last, at_epoch_seconds))
        stats.add(latency_ms, failed)

    # --- transport ------------------------------------------------------------------------

    def drain(self) -> list[WireRow]:
        """Every bucket as plain lists (msgpack-safe), and forget them: the next report sends
        only what happened since."""
        rows = [
            [
                endpoint,
                variant,
                phase,
                index,
                [[ms, count] for ms, count in sorted(stats.histogram_ms.items())],
                stats.errors,
                stats.total_ms,
                *self.seen[(endpoint, variant, phase, index)],
            ]
            for (endpoint, variant, phase, index), stats in self.buckets.items()
        ]
        self.buckets = {}
        self.seen = {}
        return rows

    def merge_rows(self, rows: Iterable[Any]) -> None:
        """Add drained rows (from any number of processes); malformed rows are counted, not
        trusted: a worker of another version must not crash the master's verdict."""
        for row in rows:
            parsed = _parse_row(row)
            if parsed is None:
                self.rejected_rows += 1
                continue
            key, stats, (first, last) = parsed
            existing = self.buckets.get(key)
            if existing is None:
                self.buckets[key] = stats
                self.seen[key] = (first, last)
            else:
                existing.merge(stats)
                seen_first, seen_last = self.seen[key]
                self.seen[key] = (min(first, seen_first), max(last, seen_last))

    # --- views for the judge and the reports -----------------------------------------------

    def endpoints(self) -> list[str]:
        return sorted({key[0] for key in self.buckets})

    def endpoint_series(
        self, first_index: int, last_index: int | None = None
    ) -> dict[str, dict[int, IntervalStats]]:
        """Per endpoint, interval index -> stats merged over variants and phases, for indexes
        in [first_index, last_index]."""
        out: dict[str, dict[int, IntervalStats]] = {}
        for (endpoint, _variant, _phase, index), stats in self.buckets.items():
            if index < first_index or (last_index is not None and index > last_index):
                continue
            merged = out.setdefault(endpoint, {}).setdefault(index, IntervalStats())
            merged.merge(stats)
        return out

    def last_index(self) -> int | None:
        return max((key[3] for key in self.buckets), default=None)

    def phase_totals(self) -> list[PhaseTotals]:
        """Per (phase, variant), pooled over endpoints and intervals, phases in time order."""
        pooled: dict[tuple[str, str], IntervalStats] = {}
        span: dict[tuple[str, str], tuple[float, float]] = {}
        for bucket, stats in self.buckets.items():
            key = (bucket[2], bucket[1])
            pooled.setdefault(key, IntervalStats()).merge(stats)
            first, last = self.seen[bucket]
            lo, hi = span.get(key, (first, last))
            span[key] = (min(lo, first), max(hi, last))
        phase_start: dict[str, float] = {}
        for (phase, _), (lo, _) in span.items():
            phase_start[phase] = min(lo, phase_start.get(phase, lo))
        order = sorted(pooled, key=lambda k: (phase_start[k[0]], k[0], k[1]))
        return [
            PhaseTotals(p, v, span[(p, v)][0], span[(p, v)][1], pooled[(p, v)]) for p, v in order
        ]


def _parse_row(row: Any) -> tuple[BucketKey, IntervalStats, tuple[float, float]] | None:
    if not isinstance(row, list | tuple) or len(row) != 9:
        return None
    endpoint, variant, phase, index, histogram, errors, total_ms, first_at, last_at = row
    if not (
        isinstance(first_at, int | float)
        and isinstance(last_at, int | float)
        and first_at <= last_at
    ):
        return None
    if not (
        isinstance(endpoint, str)
        and isinstance(variant, str)
        and isinstance(phase, str)
        and isinstance(index, int)
        and isinstance(errors, int)
        and isinstance(total_ms, int | float)
        and isinstance(histogram, list | tuple)
    ):
        return None
    stats = IntervalStats(errors=errors, total_ms=float(total_ms))
    for pair in histogram:
        if (
            not isinstance(pair, list | tuple)
            or len(pair) != 2
            or not all(isinstance(x, int) and x >= 0 for x in pair)
        ):
            return None
        stats.histogram_ms[pair[0]] = stats.histogram_ms.get(pair[0], 0) + pair[1]
    if errors < 0 or errors > stats.requests:
        return None
    return (endpoint, variant, phase, index), stats, (float(first_at), float(last_at))
