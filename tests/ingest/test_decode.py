"""decode_push: every kind of bad input is one precise IngestError naming the field."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS as BOUNDS
from sloengine.errors import IngestError
from sloengine.ingest import decode_push
from sloengine.proto.sloengine.v1 import engine_pb2 as pb

NOW = 1_800_000_000.0
NOW_MS = int(NOW * 1000)


def good() -> pb.PushRequest:
    req = pb.PushRequest(producer_id="sidecar-a", sequence=3)
    for route in ("/a", "/b"):
        block = req.blocks.add()
        block.key.service = "gateway"
        block.key.variant = "canary"
        block.key.route = route
        block.key.method = "GET"
        block.timestamps_unix_ms.extend([NOW_MS - 20_000, NOW_MS - 10_000, NOW_MS])
        block.requests.extend([10, 20, 30])
        block.errors.extend([1, 0, 3])
        block.latency_bounds_seconds.extend(BOUNDS)
        for _ in range(3):
            row = [0.0] * len(BOUNDS)
            row[4] = 5
            block.latency_bucket_counts.extend(row)
    return req


def decode(req: pb.PushRequest) -> object:
    return decode_push(req, now_s=NOW, max_age_s=30 * 86400, max_future_s=300)


def set_value(field: str, index: int, value: float) -> Callable[[pb.PushRequest], None]:
    def edit(req: pb.PushRequest) -> None:
        getattr(req.blocks[1], field)[index] = value

    return edit


CASES: list[tuple[str, Callable[[pb.PushRequest], None], str]] = [
    ("empty producer", lambda r: r.ClearField("producer_id"), "producer_id: must not be empty"),
    (
        "empty service",
        lambda r: r.blocks[1].key.ClearField("service"),
        "blocks[1].key.service: must not be empty",
    ),
    (
        "NaN requests",
        set_value("requests", 2, math.nan),
        "blocks[1].requests[2]: must be finite, got nan",
    ),
    (
        "Inf errors",
        set_value("errors", 0, math.inf),
        "blocks[1].errors[0]: must be finite, got inf",
    ),
    (
        "negative requests",
        set_value("requests", 1, -1),
        "blocks[1].requests[1]: must be >= 0, got -1",
    ),
    (
        "finite poison",
        set_value("requests", 0, 1.7e308),
        "blocks[1].requests[0]: must be <= 1e+12 per sample, got 1.7e+308",
    ),
    (
        "latency count over the bound",
        set_value("latency_bucket_counts", 5, 2e12),
        "blocks[1].latency_bucket_counts[5]: must be <= 1e+12 per sample, got 2e+12",
    ),
    (
        "sequence poison",
        lambda r: setattr(r, "sequence", 2**64 - 1),
        "sequence: 18446744073709551615 is more than one day ahead of the current time in "
        "microseconds (1800000000000000); number batches from a counter or the boot time in "
        "microseconds",
    ),
    (
        "errors over requests",
        set_value("errors", 1, 21),
        "blocks[1].errors[1]: 21 errors exceed 20 requests",
    ),
    (
        "short errors",
        lambda r: r.blocks[0].errors.pop(),
        "blocks[0].errors: has 2 values for 3 timestamps",
    ),
    (
        "long requests",
        lambda r: r.blocks[0].requests.append(1),
        "blocks[0].requests: has 4 values for 3 timestamps",
    ),
    (
        "latency length",
        lambda r: r.blocks[1].latency_bucket_counts.pop(),
        "blocks[1].latency_bucket_counts: has 35 values, expected 3 timestamps x 12 bounds = 36",
    ),
    (
        "negative latency count",
        set_value("latency_bucket_counts", 13, -2),
        "blocks[1].latency_bucket_counts[13]: must be >= 0, got -2",
    ),
    (
        "latency rows above requests",
        set_value("latency_bucket_counts", 0, 9),
        "blocks[1].latency_bucket_counts[0:12]: sum 14 exceeds requests[0] = 10",
    ),
    (
        "bounds not ascending",
        lambda r: r.blocks[1].latency_bounds_seconds.__setitem__(3, 0.001),
        "blocks[1].latency_bounds_seconds[3]: bounds must be strictly ascending",
    ),
    (
        "bound not positive",
        lambda r: r.blocks[1].latency_bounds_seconds.__setitem__(0, 0.0),
        "blocks[1].latency_bounds_seconds[0]: must be finite and > 0",
    ),
    (
        "extra label shadows a key field",
        lambda r: r.blocks[0].key.extra_labels.__setitem__("service", "other"),
        "blocks[0].key.extra_labels['service']: must be a non-empty name other than service, "
        "variant, route, method",
    ),
    (
        "too old",
        set_value("timestamps_unix_ms", 0, NOW_MS - 31 * 86400 * 1000),
        f"blocks[1].timestamps_unix_ms[0]: {NOW_MS - 31 * 86400 * 1000} is older than the "
        f"retained 2.592e+06 s (now {NOW:.3f})",
    ),
    (
        "in the future",
        set_value("timestamps_unix_ms", 2, NOW_MS + 301_000),
        f"blocks[1].timestamps_unix_ms[2]: {NOW_MS + 301_000} is more than 300 s in the "
        f"future (now {NOW:.3f})",
    ),
]


@pytest.mark.parametrize(("edit", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_names_the_field(edit: Callable[[pb.PushRequest], None], message: str) -> None:
    req = good()
    edit(req)
    with pytest.raises(IngestError) as info:
        decode(req)
    assert str(info.value) == message


def test_good_batch_is_columnar() -> None:
    batch = decode_push(good(), now_s=NOW, max_age_s=30 * 86400, max_future_s=300)
    assert batch.sample_count == 6
    assert batch.series[0] == (
        ("method", "GET"),
        ("route", "/a"),
        ("service", "gateway"),
        ("variant", "canary"),
    )
    assert batch.block_of_sample.tolist() == [0, 0, 0, 1, 1, 1]
    assert batch.values[:, 0].tolist() == [10, 20, 30] * 2
    assert batch.values[:, 2 + 4].tolist() == [5] * 6


def test_coarser_producer_buckets_map_conservatively_onto_store_bounds() -> None:
    req = pb.PushRequest(producer_id="p", sequence=1)
    block = req.blocks.add()
    block.key.service = "s"
    block.key.extra_labels["zone"] = "eu"
    block.timestamps_unix_ms.append(NOW_MS)
    block.requests.append(10)
    block.errors.append(0)
    block.latency_bounds_seconds.extend([0.1, 0.3, 20.0])
    block.latency_bucket_counts.extend([4, 3, 2])  # 1 request above 20 s
    batch = decode_push(req, now_s=NOW, max_age_s=3600, max_future_s=60)
    lat = dict(zip(BOUNDS, batch.values[0, 2:], strict=True))
    assert lat[0.1] == 4 and lat[0.5] == 3  # (0.1, 0.3] is only known to be <= 0.5
    assert np.sum(batch.values[0, 2:]) == 7  # 20 s is above the last store bound (+Inf)
    assert ("zone", "eu") in batch.series[0]


def _same(a, b) -> None:  # type: ignore[no-untyped-def]
    assert (a.producer_id, a.sequence, a.series) == (b.producer_id, b.sequence, b.series)
    assert a.timestamps_unix_ms.tolist() == b.timestamps_unix_ms.tolist()
    assert a.block_of_sample.tolist() == b.block_of_sample.tolist()
    assert np.array_equal(a.values, b.values)


def _varint(x: int) -> bytes:
    out = bytearray()
    while True:
        out.append((x & 0x7F) | (0x80 if x > 0x7F else 0))
        x >>= 7
        if not x:
            return bytes(out)


def test_unpacked_repeated_fields_decode_like_packed_ones() -> None:
    # A block whose repeated fields are NOT packed (valid proto3, rare on the wire).
    key = b"\x0a\x03svc"
    block = b"\x0a" + _varint(len(key)) + key
    for ts, n, e in ((NOW_MS - 1000, 5.0, 1.0), (NOW_MS, 7.0, 0.0)):
        block += b"\x10" + _varint(ts)
        block += b"\x19" + np.float64(n).tobytes() + b"\x21" + np.float64(e).tobytes()
    raw = b"\x0a\x01p\x10\x09\x1a" + _varint(len(block)) + block
    unpacked = decode_push(
        pb.PushRequest.FromString(raw), now_s=NOW, max_age_s=3600, max_future_s=60
    )
    packed = pb.PushRequest(producer_id="p", sequence=9)
    b = packed.blocks.add()
    b.key.service = "svc"
    b.timestamps_unix_ms.extend([NOW_MS - 1000, NOW_MS])
    b.requests.extend([5, 7])
    b.errors.extend([1, 0])
    _same(unpacked, decode_push(packed, now_s=NOW, max_age_s=3600, max_future_s=60))


def test_blocks_without_samples_decode_to_an_empty_batch() -> None:
    req = pb.PushRequest(producer_id="p", sequence=1)
    req.blocks.add().key.service = "svc"
    batch = decode_push(req, now_s=NOW, max_age_s=3600, max_future_s=60)
    assert batch.sample_count == 0 and batch.series == ((("service", "svc"),),)
