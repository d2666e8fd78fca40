"""Serialised PushRequests -> validated columns, read from the wire (`decode_wire`).

The engine's fast path: `_wire` cuts the columns out of the bytes, `_validate` checks them
as `decode_push` does, and series keys are resolved through two caches (`WireDecoder`). Anything
the fast path does not read, and every invalid batch, returns None so that `decode_push`
(the protobuf path, `_decode`) names the error: both paths give the same DecodedBatch for
every batch the fast path accepts (tests/ingest/test_wire.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from google.protobuf.message import DecodeError

from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS
from sloengine.errors import IngestError
from sloengine.ingest._decode import KEY_FIELDS, bounds_mapper, series_labels
from sloengine.ingest._validate import check_batch, sequence_ceiling
from sloengine.ingest._wire import UnsupportedEncoding, packed_doubles, scan_columns, split_keys
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.store import ERRORS, LATENCY0, REQUESTS, DecodedBatch, SeriesLabels

__all__ = ["WireDecoder", "decode_wire", "decode_wire_many"]

_KEY_CACHE_LIMIT = 200_000
_SECTION_CACHE_BYTES = 32 * 1024 * 1024


class WireDecoder:
    """`decode_wire_many` for one set of store latency bounds, with its own key caches.

    Two caches make a producer's repeated keys cheap. Serialised SeriesKey -> labels, for
    keys that passed validation: a producer sends the same keys every flush, and bytes hash
    in one pass, so a known key costs one lookup instead of parsing a message and building
    a labels tuple. A whole batch's key section (key lengths + keys back to back) -> the
    batch's labels: a sidecar sends the same series in the same order every flush, so its
    thousand keys cost one bytes comparison, and the batch carries the very same `series`
    tuple as last time, which the store resolves in O(1) (`SeriesStore.resolve`). Exact:
    dict lookups compare the bytes, not a hash. Both are bounded (cleared when full).
    """

    def __init__(
        self, latency_bounds_seconds: Sequence[float] = DEFAULT_LATENCY_BUCKETS_SECONDS
    ) -> None:
        self._mapper = bounds_mapper(tuple(float(b) for b in latency_bounds_seconds))
        self.latency_bounds_seconds = self._mapper.store_bounds
        self._packed_bounds = packed_doubles(self.latency_bounds_seconds)
        self._key_cache: dict[bytes, SeriesLabels] = {}
        self._section_cache: dict[bytes, tuple[SeriesLabels, ...]] = {}
        self._section_cache_size = 0

    def _labels_of_keys(
        self, key_bytes: bytes, key_lengths: npt.NDArray[np.int64]
    ) -> tuple[SeriesLabels, ...] | None:
        """Labels per block; None when a key is invalid (the protobuf path names it)."""
        section = key_lengths.tobytes() + key_bytes
        series = self._section_cache.get(section)
        if series is not None:
            return series
        cache = self._key_cache
        keys = split_keys(key_bytes, key_lengths)
        out = [cache.get(k) for k in keys]
        for i, kb in enumerate(keys):
            if out[i] is not None:
                continue
            try:
                key = pb.SeriesKey.FromString(kb)
            except DecodeError:
                return None
            if not key.service or any(not n or n in KEY_FIELDS for n in key.extra_labels):
                return None
            if len(cache) >= _KEY_CACHE_LIMIT:
                cache.clear()
            out[i] = cache[kb] = series_labels(key)
        series = tuple(out)  # type: ignore[arg-type]
        if self._section_cache_size + len(section) > _SECTION_CACHE_BYTES:
            self._section_cache.clear()
            self._section_cache_size = 0
        self._section_cache[section] = series
        self._section_cache_size += len(section)
        return series

    def decode_many(
        self, raws: Sequence[bytes], *, now_s: float, max_age_s: float, max_future_s: float
    ) -> list[DecodedBatch | None]:
        """`decode_wire_many` with this decoder's bounds and caches."""
        if not raws:
            return []
        bounds = self.latency_bounds_seconds
        one_by_one = len(raws) > 1
        try:
            scanned = scan_columns(raws, self._packed_bounds)
        except (UnsupportedEncoding, IndexError):  # IndexError: a length past the end
            scanned = None
        if scanned is not None:
            ts = scanned.timestamps_unix_ms
            values = np.empty((ts.size, LATENCY0 + len(bounds)))
            values[:, REQUESTS] = scanned.requests
            values[:, ERRORS] = scanned.errors
            values[:, LATENCY0:] = 0.0 if scanned.latency is None else scanned.latency
            lengths = scanned.lengths
            block_of_sample = np.repeat(np.arange(lengths.size, dtype=np.int64), lengths)
            try:
                check_batch(
                    ts, values, block_of_sample, lengths.tolist(), now_s, max_age_s, max_future_s
                )
            except IngestError:
                scanned = None
        if scanned is None:
            if not one_by_one:
                return [None]
            limits = {"now_s": now_s, "max_age_s": max_age_s, "max_future_s": max_future_s}
            return [self.decode_many([r], **limits)[0] for r in raws]
        out: list[DecodedBatch | None] = []
        ceiling = sequence_ceiling(now_s, max_future_s)  # above it: decode_push names the error
        block0 = sample0 = key0 = 0
        sample_ends = np.cumsum(lengths).tolist()
        key_ends = np.cumsum(scanned.key_lengths).tolist()
        for m, nblocks in enumerate(scanned.message_blocks):
            block1 = block0 + nblocks
            sample1 = sample_ends[block1 - 1]
            key1 = key_ends[block1 - 1]
            series = self._labels_of_keys(
                scanned.key_bytes[key0:key1], scanned.key_lengths[block0:block1]
            )
            if series is None or not scanned.producer_ids[m] or scanned.sequences[m] > ceiling:
                out.append(None)
            else:
                out.append(
                    DecodedBatch(
                        scanned.producer_ids[m],
                        scanned.sequences[m],
                        series,
                        block_of_sample[sample0:sample1] - block0
                        if block0
                        else block_of_sample[sample0:sample1],
                        ts[sample0:sample1],
                        values[sample0:sample1],
                        bounds,
                    )
                )
            block0, sample0, key0 = block1, sample1, key1
        return out


# The decoders behind the plain functions (one per set of bounds; few in a process).
_DECODERS: dict[tuple[float, ...], WireDecoder] = {}


def _decoder(latency_bounds_seconds: tuple[float, ...]) -> WireDecoder:
    decoder = _DECODERS.get(latency_bounds_seconds)
    if decoder is None:
        decoder = _DECODERS[latency_bounds_seconds] = WireDecoder(latency_bounds_seconds)
    return decoder


def decode_wire(
    raw: bytes,
    *,
    now_s: float,
    max_age_s: float,
    max_future_s: float,
    latency_bounds_seconds: tuple[float, ...] = DEFAULT_LATENCY_BUCKETS_SECONDS,
) -> DecodedBatch | None:
    """`decode_push` of a serialised PushRequest, read straight from its wire bytes.

    Returns None when the fast path does not apply (an encoding other than packed fields
    in the usual layout, latency bounds other than the store's) *or the batch is invalid*:
    the caller then parses `raw` and calls `decode_push`, so every error message comes from
    one place. Same result as `decode_push` otherwise (pinned by tests/ingest/test_wire.py).
    """
    return _decoder(tuple(latency_bounds_seconds)).decode_many(
        [raw], now_s=now_s, max_age_s=max_age_s, max_future_s=max_future_s
    )[0]


def decode_wire_many(
    raws: Sequence[bytes],
    *,
    now_s: float,
    max_age_s: float,
    max_future_s: float,
    latency_bounds_seconds: tuple[float, ...] = DEFAULT_LATENCY_BUCKETS_SECONDS,
) -> list[DecodedBatch | None]:
    """`decode_wire` of each of `raws`, scanned and validated together.

    Why together: a numpy call costs the same for one batch's rows or a hundred batches'
    rows, so many small batches (200 producers) share one scan and one validation pass.
    When any batch of the group is unusual or invalid, each is decoded on its own.
    """
    return _decoder(tuple(latency_bounds_seconds)).decode_many(
        raws, now_s=now_s, max_age_s=max_age_s, max_future_s=max_future_s
    )
