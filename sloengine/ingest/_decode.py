"""PushRequest -> validated numpy columns (the store's `DecodedBatch`), via protobuf.

All per-sample work is vectorised over the concatenation of a batch's blocks (validation in
`_validate`); the Python loop runs once per block and reads each protobuf field once.
Columns of `DecodedBatch.values`: requests, errors, then one per store latency bound
(non-cumulative; requests above the last bound are implied).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS
from sloengine.errors import IngestError
from sloengine.ingest._validate import (
    check_batch,
    check_counts,
    check_sequence,
    first_index,
)
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.store import ERRORS, LATENCY0, REQUESTS, DecodedBatch, SeriesLabels

_LABELS_CACHE: dict[tuple[str, str, str, str], SeriesLabels] = {}


KEY_FIELDS = frozenset(("service", "variant", "route", "method"))


def series_labels(key: pb.SeriesKey) -> SeriesLabels:
    if not key.extra_labels:
        plain = (key.method, key.route, key.service, key.variant)
        cached = _LABELS_CACHE.get(plain)
        if cached is None:
            if len(_LABELS_CACHE) > 100_000:
                _LABELS_CACHE.clear()
            cached = _LABELS_CACHE[plain] = tuple(
                (k, v)
                for k, v in zip(("method", "route", "service", "variant"), plain, strict=True)
                if v
            )
        return cached
    pairs = [
        ("method", key.method),
        ("route", key.route),
        ("service", key.service),
        ("variant", key.variant),
        *key.extra_labels.items(),
    ]
    pairs.sort()
    return tuple((k, v) for k, v in pairs if v)


class _BoundsMapper:
    """Maps a block's latency buckets onto the store's bounds (cached per distinct bounds).

    A block bucket `(b[j-1], b[j]]` is added to the store bucket of the smallest store bound
    `>= b[j]`: exact when the block's bounds include every store bound (the default bounds
    everywhere), conservative (counted as slower) otherwise; above the last store bound it is
    left to the implied +Inf bucket.
    """

    def __init__(self, store_bounds: Sequence[float]) -> None:
        self.store_bounds = tuple(float(b) for b in store_bounds)
        self._cache: dict[tuple[float, ...], npt.NDArray[np.float64] | None] = {
            self.store_bounds: None
        }

    def matrix(self, bounds: tuple[float, ...], where: str) -> npt.NDArray[np.float64] | None:
        """None means identity; raises IngestError for invalid bounds."""
        try:
            return self._cache[bounds]
        except KeyError:
            pass
        for j, b in enumerate(bounds):
            if not math.isfinite(b) or b <= 0:
                raise IngestError(f"{where}.latency_bounds_seconds[{j}]", "must be finite and > 0")
            if j and b <= bounds[j - 1]:
                raise IngestError(
                    f"{where}.latency_bounds_seconds[{j}]", "bounds must be strictly ascending"
                )
        target = np.searchsorted(np.asarray(self.store_bounds), np.asarray(bounds), side="left")
        m = np.zeros((len(bounds), len(self.store_bounds)))
        inside = target < len(self.store_bounds)
        m[np.flatnonzero(inside), target[inside]] = 1.0
        if len(self._cache) < 64:
            self._cache[bounds] = m
        return m


_MAPPERS: dict[tuple[float, ...], _BoundsMapper] = {}


def bounds_mapper(store_bounds: tuple[float, ...]) -> _BoundsMapper:
    mapper = _MAPPERS.get(store_bounds)
    if mapper is None:
        mapper = _MAPPERS[store_bounds] = _BoundsMapper(store_bounds)
    return mapper


# Blocks shorter than this go through Python lists: one numpy call costs more than copying
# a few values, and a sidecar's batch is a thousand one-sample blocks.
_SHORT_BLOCK = 16


class _Columns:
    """Concatenates the blocks' columns in block order."""

    def __init__(self) -> None:
        self._ts: list[npt.NDArray[np.int64]] = []
        self._req: list[npt.NDArray[np.float64]] = []
        self._err: list[npt.NDArray[np.float64]] = []
        self._lat: list[npt.NDArray[np.float64]] = []
        self._ts_l: list[int] = []
        self._req_l: list[float] = []
        self._err_l: list[float] = []
        self._lat_l: list[float] = []

    def add_short(
        self,
        ts: Sequence[int],
        requests: Sequence[float],
        errors: Sequence[float],
        latency: Sequence[float],
    ) -> None:
        self._ts_l += ts
        self._req_l += requests
        self._err_l += errors
        self._lat_l += latency

    def add_long(
        self,
        ts: Sequence[int],
        requests: Sequence[float],
        errors: Sequence[float],
        latency: Sequence[float] | npt.NDArray[np.float64],
    ) -> None:
        self._flush()
        self._ts.append(np.asarray(ts, dtype=np.int64))
        self._req.append(np.asarray(requests, dtype=np.float64))
        self._err.append(np.asarray(errors, dtype=np.float64))
        self._lat.append(np.asarray(latency, dtype=np.float64))

    def _flush(self) -> None:
        if self._ts_l:
            self._ts.append(np.array(self._ts_l, dtype=np.int64))
            self._req.append(np.array(self._req_l, dtype=np.float64))
            self._err.append(np.array(self._err_l, dtype=np.float64))
            self._lat.append(np.array(self._lat_l, dtype=np.float64))
            self._ts_l, self._req_l, self._err_l, self._lat_l = [], [], [], []

    def finish(
        self,
    ) -> tuple[
        npt.NDArray[np.int64],
        npt.NDArray[np.float64],
        npt.NDArray[np.float64],
        npt.NDArray[np.float64],
    ]:
        self._flush()
        if not self._ts:  # every block was empty
            f64 = np.zeros(0)
            return np.zeros(0, dtype=np.int64), f64, f64, f64
        if len(self._ts) == 1:
            return self._ts[0], self._req[0], self._err[0], self._lat[0]
        return (
            np.concatenate(self._ts),
            np.concatenate(self._req),
            np.concatenate(self._err),
            np.concatenate(self._lat),
        )


def decode_push(
    req: pb.PushRequest,
    *,
    now_s: float,
    max_age_s: float,
    max_future_s: float,
    latency_bounds_seconds: tuple[float, ...] = DEFAULT_LATENCY_BUCKETS_SECONDS,
) -> DecodedBatch:
    """Validate a PushRequest into columns; raise IngestError naming the first bad field.

    Samples must end within `(now_s - max_age_s, now_s + max_future_s]` (pass `math.inf`
    to skip, as WAL replay does). Latency buckets are mapped onto `latency_bounds_seconds`.
    """
    mapper = bounds_mapper(tuple(latency_bounds_seconds))
    return _decode_message(req, now_s, max_age_s, max_future_s, mapper)


def _decode_message(
    req: pb.PushRequest, now_s: float, max_age_s: float, max_future_s: float, mapper: _BoundsMapper
) -> DecodedBatch:
    """The general path through the protobuf library (any valid encoding)."""
    if not req.producer_id:
        raise IngestError("producer_id", "must not be empty")
    check_sequence(req.sequence, now_s, max_future_s)
    nbounds = len(mapper.store_bounds)
    series: list[SeriesLabels] = []
    cols = _Columns()
    lengths: list[int] = []
    zeros_row = [0.0] * nbounds
    labels_cache = _LABELS_CACHE
    # Every protobuf field access builds a wrapper object: read each field once.
    for i, block in enumerate(req.blocks):
        key = block.key
        service = key.service
        if not service:
            raise IngestError(f"blocks[{i}].key.service", "must not be empty")
        tms = block.timestamps_unix_ms
        rq = block.requests
        er = block.errors
        n = len(tms)
        if len(rq) != n:
            raise IngestError(f"blocks[{i}].requests", f"has {len(rq)} values for {n} timestamps")
        if len(er) != n:
            raise IngestError(f"blocks[{i}].errors", f"has {len(er)} values for {n} timestamps")
        bounds = block.latency_bounds_seconds
        counts = block.latency_bucket_counts
        lat = _latency(bounds, counts, rq, i, n, mapper) if bounds or counts else zeros_row * n
        if n < _SHORT_BLOCK:
            cols.add_short(tms, rq, er, lat.tolist() if isinstance(lat, np.ndarray) else lat)
        else:
            cols.add_long(tms, rq, er, lat)
        if key.extra_labels:
            for name in key.extra_labels:
                if not name or name in KEY_FIELDS:
                    raise IngestError(
                        f"blocks[{i}].key.extra_labels[{name!r}]",
                        "must be a non-empty name other than service, variant, route, method",
                    )
            series.append(series_labels(key))
        else:
            plain = (key.method, key.route, service, key.variant)
            labels = labels_cache.get(plain)
            if labels is None:
                labels = series_labels(key)
            series.append(labels)
        lengths.append(n)
    width = LATENCY0 + nbounds
    if not lengths:
        empty = np.zeros(0, dtype=np.int64)
        return DecodedBatch(
            req.producer_id,
            req.sequence,
            (),
            empty,
            empty,
            np.zeros((0, width)),
            mapper.store_bounds,
        )
    ts, requests, errors, latency = cols.finish()
    values = np.empty((ts.size, width))
    values[:, REQUESTS] = requests
    values[:, ERRORS] = errors
    values[:, LATENCY0:] = latency.reshape(ts.size, nbounds)
    block_of_sample = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    check_batch(ts, values, block_of_sample, lengths, now_s, max_age_s, max_future_s)
    return DecodedBatch(
        req.producer_id,
        req.sequence,
        tuple(series),
        block_of_sample,
        ts,
        values,
        mapper.store_bounds,
    )


def _latency(
    bounds: Sequence[float],
    counts: Sequence[float] | npt.NDArray[np.float64],
    requests: Sequence[float] | npt.NDArray[np.float64],
    i: int,
    n: int,
    mapper: _BoundsMapper,
) -> Sequence[float] | npt.NDArray[np.float64]:
    """One block's latency counts mapped onto the store bounds (validated afterwards)."""
    nb = len(bounds)
    if len(counts) != n * nb:
        raise IngestError(
            f"blocks[{i}].latency_bucket_counts",
            f"has {len(counts)} values, expected {n} timestamps x {nb} bounds = {n * nb}",
        )
    m = mapper.matrix(tuple(bounds), f"blocks[{i}]")
    if m is None:  # the store's own bounds: validated with the whole batch afterwards
        return counts
    # Validate before mapping so the error names the block's own positions.
    where = f"blocks[{i}].latency_bucket_counts"
    arr = np.asarray(counts, dtype=np.float64)
    check_counts(arr, where)
    rows = arr.reshape(n, nb)
    sums = rows.sum(axis=1)
    bad = sums > np.asarray(requests, dtype=np.float64)
    if bad.any():
        j = first_index(bad)
        raise IngestError(
            f"{where}[{j * nb}:{(j + 1) * nb}]",
            f"sum {sums[j]:g} exceeds requests[{j}] = {requests[j]:g}",
        )
    return (rows @ m).ravel()
