"""Helpers the store tests share: build PushRequests and an independent pandas oracle."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS
from sloengine.proto.sloengine.v1 import engine_pb2 as pb

BOUNDS = DEFAULT_LATENCY_BUCKETS_SECONDS
T0 = 1_800_000_000  # a 6 h aligned instant, so every ring level starts on a slot boundary


@dataclass(frozen=True)
class Sample:
    series: int  # index into SERIES
    ts_ms: int
    requests: int
    errors: int
    fast: int  # requests at or below 0.25 s (the rest are slower than the last bound)


SERIES: tuple[dict[str, str], ...] = (
    {"service": "gateway", "variant": "canary", "route": "/a", "method": "GET"},
    {"service": "gateway", "variant": "stable", "route": "/a", "method": "GET"},
    {"service": "gateway", "variant": "canary", "route": "/b", "method": "POST"},
    {"service": "docs", "variant": "stable", "route": "/a", "method": "GET"},
)


def push_request(producer: str, sequence: int, samples: Sequence[Sample]) -> pb.PushRequest:
    """One block per series, samples in the given (possibly unsorted) order."""
    req = pb.PushRequest(producer_id=producer, sequence=sequence)
    by_series: dict[int, list[Sample]] = {}
    for s in samples:
        by_series.setdefault(s.series, []).append(s)
    fast_col = BOUNDS.index(0.25)
    for series, rows in by_series.items():
        block = req.blocks.add()
        labels = SERIES[series]
        block.key.service = labels["service"]
        block.key.variant = labels["variant"]
        block.key.route = labels["route"]
        block.key.method = labels["method"]
        block.latency_bounds_seconds.extend(BOUNDS)
        for s in rows:
            block.timestamps_unix_ms.append(s.ts_ms)
            block.requests.append(s.requests)
            block.errors.append(s.errors)
            row = [0.0] * len(BOUNDS)
            row[fast_col] = s.fast
            block.latency_bucket_counts.extend(row)
    return req


def frame(samples: Sequence[Sample]) -> pd.DataFrame:
    rows = [
        {
            **SERIES[s.series],
            "ts_ms": s.ts_ms,
            "requests": s.requests,
            "errors": s.errors,
            "fast": s.fast,
        }
        for s in samples
    ]
    columns = ["service", "variant", "route", "method", "ts_ms", "requests", "errors", "fast"]
    return pd.DataFrame(rows, columns=columns)


def oracle(
    df: pd.DataFrame, selector: Mapping[str, str], start_s: float, end_s: float
) -> tuple[float, float, float]:
    """(requests, errors, fast) over samples ending in (start, end] that match `selector`."""
    mask = (df["ts_ms"] > start_s * 1000) & (df["ts_ms"] <= end_s * 1000)
    for k, v in selector.items():
        mask &= df[k] == v
    sub = df[mask]
    return float(sub["requests"].sum()), float(sub["errors"].sum()), float(sub["fast"].sum())
