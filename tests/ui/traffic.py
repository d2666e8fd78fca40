"""Replayed traffic for the UI tests: deterministic SeriesBlocks with explicit timestamps."""

from __future__ import annotations

import math

import numpy as np

from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS as BOUNDS
from sloengine.proto.sloengine.v1 import engine_pb2 as pb

STEP_S = 60


def _bucket_probabilities(median_s: float) -> np.ndarray:
    """Per-bucket probabilities (finite buckets, then overflow) of a lognormal latency."""
    z = (np.log(np.asarray(BOUNDS)) - math.log(median_s)) / 0.5
    cdf = 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))
    return np.diff(np.concatenate(([0.0], cdf, [1.0])))


def block(
    service: str,
    variant: str,
    *,
    start_s: float,
    end_s: float,
    rps: float,
    error_ratio: float,
    median_latency_s: float = 0.1,
    route: str = "/pay",
    seed: int = 0,
    revision: str = "",
) -> pb.SeriesBlock:
    """One sample per minute over `(start_s, end_s]` (seeded Poisson / binomial counts),
    labelled with `revision` when given."""
    rng = np.random.default_rng(seed)
    probs = _bucket_probabilities(median_latency_s)
    out = pb.SeriesBlock(
        key=pb.SeriesKey(
            service=service,
            variant=variant,
            route=route,
            method="GET",
            extra_labels={"revision": revision} if revision else {},
        ),
        latency_bounds_seconds=list(BOUNDS),
    )
    t = start_s + STEP_S
    while t <= end_s + 1e-9:
        n = int(rng.poisson(rps * STEP_S))
        out.timestamps_unix_ms.append(round(t * 1000))
        out.requests.append(float(n))
        out.errors.append(float(rng.binomial(n, error_ratio)))
        out.latency_bucket_counts.extend(float(c) for c in rng.multinomial(n, probs)[:-1])
        t += STEP_S
    return out


def batch(producer: str, sequence: int, *blocks: pb.SeriesBlock) -> pb.PushRequest:
    return pb.PushRequest(producer_id=producer, sequence=sequence, blocks=list(blocks))
