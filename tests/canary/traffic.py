"""Seeded synthetic traffic for the canary tests: SeriesBlocks of 10 s samples."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS as BOUNDS
from sloengine.proto.sloengine.v1 import engine_pb2 as pb

STEP_S = 10


def bucket_probabilities(median_s: float, sigma: float) -> np.ndarray:
    """Per-bucket probabilities (finite buckets, then overflow) of a lognormal latency."""
    cdf = stats.lognorm.cdf(np.asarray(BOUNDS), s=sigma, scale=median_s)
    return np.diff(np.concatenate(([0.0], cdf, [1.0])))


def block(
    service: str,
    variant: str,
    *,
    end_s: float,
    seconds: float,
    rps: float,
    error_ratio: float,
    median_latency_s: float = 0.2,
    sigma: float = 0.5,
    seed: int = 0,
    route: str = "/search",
    revision: str = "",
) -> pb.SeriesBlock:
    """`seconds` of traffic ending at `end_s`, one sample per 10 s (of `revision`, if set)."""
    rng = np.random.default_rng(seed)
    steps = int(seconds // STEP_S)
    probs = bucket_probabilities(median_latency_s, sigma)
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
    for i in range(steps):
        t = end_s - (steps - 1 - i) * STEP_S
        n = int(rng.poisson(rps * STEP_S))
        errors = int(rng.binomial(n, error_ratio))
        buckets = rng.multinomial(n, probs)[:-1]
        out.timestamps_unix_ms.append(math.floor(t * 1000))
        out.requests.append(float(n))
        out.errors.append(float(errors))
        out.latency_bucket_counts.extend(float(c) for c in buckets)
    return out


def push(producer: str, sequence: int, *blocks: pb.SeriesBlock) -> pb.PushRequest:
    return pb.PushRequest(producer_id=producer, sequence=sequence, blocks=list(blocks))
