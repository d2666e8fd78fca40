"""decode_push: every kind of bad input is one precise IngestError naming the field."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS as BOUNDS
from sloengine.errors import IngestError
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.store import decode_push

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
