"""The store knows which series never pushed latency buckets (a latency SLI leaves them out)."""

from __future__ import annotations

from sloengine.ingest import decode_push
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.store import SeriesStore

T = 1_700_006_400
BOUNDS = (0.1, 0.5, 1.0)


def _push(store: SeriesStore, seq: int, route: str, requests: float, buckets: bool) -> None:
    req = pb.PushRequest(producer_id="p", sequence=seq)
    block = req.blocks.add()
    block.key.service, block.key.route = "svc", route
    block.timestamps_unix_ms.append((T + seq * 10) * 1000)
    block.requests.append(requests)
    block.errors.append(0)
    if buckets:
        block.latency_bounds_seconds.extend(BOUNDS)
        block.latency_bucket_counts.extend((requests, 0, 0))
    at = T + 100
    batch = decode_push(
        req,
        now_s=at,
        max_age_s=store.retention_seconds,
        max_future_s=0,
        latency_bounds_seconds=BOUNDS,
    )
    store.apply(batch)


def test_requests_of_series_without_buckets_are_counted_apart() -> None:
    store = SeriesStore(latency_bounds_seconds=BOUNDS)
    _push(store, 1, "/a", 10, buckets=True)
    _push(store, 2, "/b", 7, buckets=False)
    ws = store.window_sum({"service": "svc"}, 60, T + 60)
    assert (ws.requests, ws.requests_without_latency, ws.latency_requests) == (17, 7, 10)
    assert store.window_sum({"route": "/a"}, 60, T + 60).requests_without_latency == 0


def test_a_series_that_later_sends_buckets_is_a_latency_series() -> None:
    store = SeriesStore(latency_bounds_seconds=BOUNDS)
    _push(store, 1, "/b", 7, buckets=False)
    assert store.window_sum({}, 60, T + 60).latency_requests == 0
    _push(store, 2, "/b", 5, buckets=True)
    ws = store.window_sum({}, 60, T + 60)
    assert (ws.requests, ws.requests_without_latency) == (12, 0)


def test_a_snapshot_remembers_which_series_have_latency() -> None:
    store = SeriesStore(latency_bounds_seconds=BOUNDS)
    _push(store, 1, "/a", 10, buckets=True)
    _push(store, 2, "/b", 7, buckets=False)
    again = SeriesStore.loads(store.dumps())
    ws = again.window_sum({"service": "svc"}, 60, T + 60)
    assert (ws.requests, ws.requests_without_latency) == (17, 7)
