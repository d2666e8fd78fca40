"""decode_wire (columns cut from the wire bytes) agrees with decode_push, or steps aside.

The fast path must return exactly what the protobuf path returns for every batch it
accepts, and None (so the protobuf path names the error) for every invalid batch and every
encoding it does not read.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS as BOUNDS
from sloengine.ingest import decode_push, decode_wire, decode_wire_many
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.store import DecodedBatch
from tests.ingest.test_decode import CASES, NOW, NOW_MS, _varint, good

LIMITS = {"now_s": NOW, "max_age_s": 30 * 86400, "max_future_s": 300}


def wire(req: pb.PushRequest | bytes) -> DecodedBatch | None:
    raw = req if isinstance(req, bytes) else req.SerializeToString()
    return decode_wire(raw, **LIMITS)  # type: ignore[arg-type]


def assert_same(fast: DecodedBatch | None, req: pb.PushRequest) -> None:
    slow = decode_push(req, **LIMITS)  # type: ignore[arg-type]
    assert fast is not None
    assert (fast.producer_id, fast.sequence, fast.series) == (
        slow.producer_id,
        slow.sequence,
        slow.series,
    )
    assert fast.timestamps_unix_ms.tolist() == slow.timestamps_unix_ms.tolist()
    assert fast.block_of_sample.tolist() == slow.block_of_sample.tolist()
    assert np.array_equal(fast.values, slow.values)
    assert fast.latency_bounds_seconds == slow.latency_bounds_seconds


def test_a_valid_batch_decodes_exactly_like_the_protobuf_path() -> None:
    assert_same(wire(good()), good())


@pytest.mark.parametrize("edit", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_every_invalid_batch_is_left_to_the_protobuf_path(
    edit: Callable[[pb.PushRequest], None],
) -> None:
    req = good()
    edit(req)
    assert wire(req) is None


def test_blocks_with_and_without_histograms_and_extra_labels_mix() -> None:
    req = pb.PushRequest(producer_id="p", sequence=NOW_MS * 1000 + 5)  # a 8-byte varint
    for i in range(200):  # enough blocks for the lock-step (numpy) field reader
        block = req.blocks.add()
        block.key.service = "svc"
        block.key.route = f"/route/{i}" * (i % 7)
        if i % 3 == 0:
            block.key.extra_labels["zone"] = f"z{i % 5}"
        block.timestamps_unix_ms.extend([NOW_MS - 10_000 * k for k in range(i % 4)])
        block.requests.extend([float(i + k + 10) for k in range(i % 4)])
        block.errors.extend([float(k) for k in range(i % 4)])
        if i % 2:
            block.latency_bounds_seconds.extend(BOUNDS)
            block.latency_bucket_counts.extend([0.0, 1.0] * (len(BOUNDS) // 2) * (i % 4))
    assert_same(wire(req), req)


def test_the_same_keys_again_give_the_very_same_series_tuple() -> None:
    first, second = wire(good()), wire(good())
    assert first is not None and second is not None
    assert first.series is second.series  # what SeriesStore.resolve caches by identity


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"\xff\xff\xff", id="garbage"),
        pytest.param(good().SerializeToString()[:-5], id="truncated"),
        pytest.param(b"", id="empty"),
        pytest.param(
            b"\x0a\x01p\x10\x01\x1a\x05\x0a\x03svc\x38\x01", id="block with an unknown field"
        ),
    ],
)
def test_bytes_it_cannot_read_are_left_to_the_protobuf_path(raw: bytes) -> None:
    assert wire(raw) is None


def test_unpacked_arrays_are_left_to_the_protobuf_path() -> None:
    key = b"\x0a\x03svc"
    block = b"\x0a" + _varint(len(key)) + key
    block += b"\x10" + _varint(NOW_MS) + b"\x19" + np.float64(5).tobytes()
    block += b"\x21" + np.float64(1).tobytes()
    assert wire(b"\x0a\x01p\x10\x09\x1a" + _varint(len(block)) + block) is None


def test_other_latency_bounds_are_left_to_the_protobuf_path() -> None:
    req = good()
    req.blocks[0].latency_bounds_seconds[0] = 0.004
    assert wire(req) is None
    assert decode_push(req, **LIMITS) is not None  # type: ignore[arg-type]


counts = st.floats(min_value=0, max_value=1e6, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(min_size=1, max_size=8),
            st.lists(st.tuples(st.integers(0, 10**6), counts, st.booleans()), max_size=5),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_random_valid_batches_decode_exactly_like_the_protobuf_path(
    blocks: list[tuple[str, list[tuple[int, float, bool]]]],
) -> None:
    req = pb.PushRequest(producer_id="prop", sequence=7)
    for service, samples in blocks:
        block = req.blocks.add()
        block.key.service = service
        block.timestamps_unix_ms.extend(NOW_MS - age for age, _, _ in samples)
        block.requests.extend(n for _, n, _ in samples)
        block.errors.extend(n if half else math.floor(n / 2) for _, n, half in samples)
    assert_same(wire(req), req)


def test_a_group_decodes_like_each_batch_alone_and_an_invalid_one_spoils_only_itself() -> None:
    reqs = [good() for _ in range(4)]
    for i, req in enumerate(reqs):
        req.sequence = i
        req.blocks[0].key.route = f"/group/{i}"
    bad = good()
    bad.blocks[1].requests[0] = math.nan
    raws = [r.SerializeToString() for r in reqs]
    together = decode_wire_many(raws, **LIMITS)  # type: ignore[arg-type]
    for fast, req in zip(together, reqs, strict=True):
        assert_same(fast, req)
    mixed = decode_wire_many([raws[0], bad.SerializeToString(), raws[1]], **LIMITS)  # type: ignore[arg-type]
    assert mixed[1] is None
    assert_same(mixed[0], reqs[0])
    assert_same(mixed[2], reqs[1])
