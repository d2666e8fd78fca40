"""A batch as plain Python (`PushBatch` of `SeriesBlock`s), for producers inside the engine.

Replay (and tests) build batches of rows without protobuf; the codec turns one into the
wire message (`push_request`, e.g. to push it to a live engine) or straight into the
store's validated columns (`decode_batch`), through exactly the validation a pushed batch
gets, so the same rows give the same `DecodedBatch` whichever way they arrive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS
from sloengine.ingest._decode import KEY_FIELDS, decode_push
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.store import DecodedBatch

__all__ = ["PushBatch", "SeriesBlock", "decode_batch", "push_request"]

_Numbers = Sequence[float] | npt.NDArray[np.float64]


@dataclass(frozen=True)
class SeriesBlock:
    """One series' samples: `labels` has `service` (required), `variant`, `route`,
    `method` and any extra labels; sample i ends at `timestamps_unix_ms[i]`. With latency
    buckets, `latency_bucket_counts` is row-major, samples x `latency_bounds_seconds`
    (non-cumulative counts per bucket)."""

    labels: Mapping[str, str]
    timestamps_unix_ms: Sequence[int] | npt.NDArray[np.int64]
    requests: _Numbers
    errors: _Numbers
    latency_bounds_seconds: Sequence[float] = ()
    latency_bucket_counts: _Numbers = ()


@dataclass(frozen=True)
class PushBatch:
    """A producer's batch: `(producer_id, sequence)` identifies it for dedupe."""

    producer_id: str
    sequence: int
    blocks: Sequence[SeriesBlock]


def push_request(batch: PushBatch) -> pb.PushRequest:
    """The batch as the wire message a producer pushes."""
    req = pb.PushRequest(producer_id=batch.producer_id, sequence=batch.sequence)
    for series in batch.blocks:
        block = req.blocks.add()
        key = block.key
        labels = series.labels
        key.service = labels.get("service", "")
        key.variant = labels.get("variant", "")
        key.route = labels.get("route", "")
        key.method = labels.get("method", "")
        for name, value in labels.items():
            if name not in KEY_FIELDS:
                key.extra_labels[name] = value
        block.timestamps_unix_ms.extend(_ints(series.timestamps_unix_ms))
        block.requests.extend(_floats(series.requests))
        block.errors.extend(_floats(series.errors))
        if len(series.latency_bounds_seconds) or len(series.latency_bucket_counts):
            block.latency_bounds_seconds.extend(_floats(series.latency_bounds_seconds))
            block.latency_bucket_counts.extend(_floats(series.latency_bucket_counts))
    return req


def decode_batch(
    batch: PushBatch,
    *,
    now_s: float,
    max_age_s: float,
    max_future_s: float,
    latency_bounds_seconds: tuple[float, ...] = DEFAULT_LATENCY_BUCKETS_SECONDS,
) -> DecodedBatch:
    """`decode_push` of the batch: the store's columns, or IngestError naming the field."""
    return decode_push(
        push_request(batch),
        now_s=now_s,
        max_age_s=max_age_s,
        max_future_s=max_future_s,
        latency_bounds_seconds=latency_bounds_seconds,
    )


def _ints(values: Sequence[int] | npt.NDArray[np.int64]) -> list[int]:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def _floats(values: Sequence[float] | npt.NDArray[np.float64]) -> list[float]:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)
