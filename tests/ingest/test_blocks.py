"""PushBatch / SeriesBlock: batches as plain Python give what the same pushed batch gives."""

from __future__ import annotations

import numpy as np
import pytest

from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS as BOUNDS
from sloengine.errors import IngestError
from sloengine.ingest import PushBatch, SeriesBlock, decode_batch, decode_wire, push_request

NOW = 1_800_000_000.0
LIMITS = {"now_s": NOW, "max_age_s": 3600.0, "max_future_s": 60.0}
T = int(NOW * 1000) - 30_000


def _batch(*blocks: SeriesBlock) -> PushBatch:
    return PushBatch("replay", 3, blocks)


def test_labels_go_to_the_key_fields_and_the_rest_to_extra_labels() -> None:
    labels = {"service": "api", "variant": "canary", "route": "/a", "revision": "r2"}
    req = push_request(_batch(SeriesBlock(labels, [T], [4.0], [1.0])))
    key = req.blocks[0].key
    assert (key.service, key.variant, key.route, key.method) == ("api", "canary", "/a", "")
    assert dict(key.extra_labels) == {"revision": "r2"}
    assert not req.blocks[0].latency_bounds_seconds


def test_decode_batch_equals_the_pushed_batch_read_from_the_wire() -> None:
    counts = np.zeros((2, len(BOUNDS)))
    counts[:, 3] = [5, 2]
    batch = _batch(
        SeriesBlock(
            {"service": "api", "method": "GET"},
            np.array([T, T + 10_000], dtype=np.int64),
            np.array([7.0, 3.0]),
            [1.0, 0.0],
            BOUNDS,
            counts.ravel(),
        ),
        SeriesBlock({"service": "db", "tier": "gold"}, [T], [2.0], [2.0]),
    )
    plain = decode_batch(batch, **LIMITS)  # type: ignore[arg-type]
    wired = decode_wire(push_request(batch).SerializeToString(), **LIMITS)  # type: ignore[arg-type]
    assert wired is not None
    assert (
        plain.series
        == wired.series
        == (
            (("method", "GET"), ("service", "api")),
            (("service", "db"), ("tier", "gold")),
        )
    )
    assert plain.timestamps_unix_ms.tolist() == wired.timestamps_unix_ms.tolist()
    assert np.array_equal(plain.values, wired.values)
    assert plain.values[:, 2 + 3].tolist() == [5.0, 2.0, 0.0]


def test_invalid_rows_are_named_like_a_pushed_batchs() -> None:
    bad = _batch(SeriesBlock({"service": "api"}, [T, T], [1.0, 1.0], [0.0, 2.0]))
    with pytest.raises(IngestError, match=r"blocks\[0\]\.errors\[1\]: 2 errors exceed 1 requests"):
        decode_batch(bad, **LIMITS)  # type: ignore[arg-type]
    with pytest.raises(IngestError, match=r"blocks\[0\]\.key\.service: must not be empty"):
        decode_batch(_batch(SeriesBlock({"route": "/a"}, [T], [1.0], [0.0])), **LIMITS)  # type: ignore[arg-type]
