"""EngineClient against a real in-process engine: exact counts, bounds, resend, facades."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc
from prometheus_client import CollectorRegistry

from sloengine.client import EngineClient, EngineClientCollector, ThreadedEngineClient
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from tests.server.conftest import T0, EngineFactory, batch, block, status, window
from tests.support.net import free_port, refused_port


async def until(predicate: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.01)


def client_for(port: int, **kwargs: object) -> EngineClient:
    options: dict[str, object] = {"flush_interval_s": 0.02, "clock": lambda: T0 - 30}
    options.update(kwargs)
    return EngineClient(f"127.0.0.1:{port}", "client-test", **options)  # type: ignore[arg-type]


async def test_recorded_requests_arrive_as_exact_counts_and_buckets(engine: object) -> None:
    port = engine.grpc_port  # type: ignore[attr-defined]
    client = client_for(port)
    await client.start()
    try:
        for i in range(100):
            code = 503 if i % 10 == 0 else 200
            client.record("checkout", "canary", "/pay", "POST", code, 0.3 if i < 70 else 0.9)
        await until(
            lambda: client.stats["acked_batches"] >= 1 and not client.stats["pending_batches"]
        )
    finally:
        await client.aclose()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
        avail = window(await status(ch), 300)
        latency = window(await status(ch, slo="latency"), 300)
    assert (avail.requests, avail.errors) == (100, 10)
    assert (latency.requests, latency.errors) == (100, 30)  # slower than 0.5s


async def test_queue_is_bounded_and_drops_the_oldest_while_the_engine_is_down() -> None:
    with refused_port() as port:
        await _queue_is_bounded(port)


async def _queue_is_bounded(port: int) -> None:
    client = client_for(port, max_pending_batches=3, backoff_max_s=0.05)
    await client.start()
    for _ in range(8):
        client.record("checkout", "stable", "/pay", "GET", 200, 0.01)
        client.record("checkout", "stable", "/cart", "GET", 200, 0.01)
        await asyncio.sleep(0.04)
    stats = client.stats
    started = time.monotonic()
    await client.aclose(timeout_s=0.2)
    assert time.monotonic() - started < 2
    assert stats["pending_batches"] == 3
    assert stats["dropped_batches"] >= 4
    assert stats["dropped_samples"] == 2 * stats["dropped_batches"]
    assert stats["connected"] == 0


async def test_record_never_raises_on_bad_input() -> None:
    client = client_for(free_port())
    client.record("checkout", "stable", "/pay", "GET", None, math.nan)  # type: ignore[arg-type]
    client.record("checkout", "stable", "/pay", "GET", 200, math.nan)
    client.record("checkout", "stable", "/pay", "GET", 200, -1.0)
    assert client.stats["invalid_durations"] == 3


async def test_series_beyond_the_per_batch_bound_are_dropped_and_counted() -> None:
    client = client_for(free_port(), max_series_per_batch=2)
    for route in ("/a", "/b", "/c", "/d"):
        client.record("checkout", "stable", route, "GET", 200, 0.01)
    assert client.stats["dropped_series"] == 2


async def test_push_returns_each_ack_and_dedupes_a_resent_sequence(engine: object) -> None:
    client = client_for(engine.grpc_port)  # type: ignore[attr-defined]
    await client.start()
    try:
        first = await client.push(batch(41, block(), producer="replay"))
        again = await client.push(batch(41, block(), producer="replay"))
        bad = await client.push(batch(42, block(requests=(-1,)), producer="replay"))
    finally:
        await client.aclose()
    assert (first.status, again.status, bad.status) == (
        pb.PushAck.ACCEPTED, pb.PushAck.DUPLICATE, pb.PushAck.REJECTED,
    )  # fmt: skip
    assert bad.message.startswith("blocks[0].requests[0]")
    assert client.stats["rejected_batches"] == 1
    assert client.stats["duplicate_batches"] == 1


async def test_unacked_batches_are_resent_after_the_engine_restarts(
    start_engine: EngineFactory, tmp_path: Path
) -> None:
    port = free_port()
    data = tmp_path / "restart"
    first = await start_engine(grpc_listen=f"127.0.0.1:{port}", data_dir=data)
    client = client_for(port, backoff_max_s=0.05)
    await client.start()
    try:
        for _ in range(5):
            client.record("checkout", "stable", "/pay", "GET", 500, 0.01)
        await until(
            lambda: client.stats["acked_batches"] >= 1 and not client.stats["pending_batches"]
        )
        await first.stop(grace_s=0)
        for _ in range(7):
            client.record("checkout", "stable", "/pay", "GET", 200, 0.01)
        await until(lambda: client.stats["pending_batches"] >= 1)
        second = await start_engine(grpc_listen=f"127.0.0.1:{port}", data_dir=data)
        await until(lambda: not client.stats["pending_batches"])
    finally:
        await client.aclose()
    assert client.stats["reconnects"] >= 1
    async with grpc.aio.insecure_channel(f"127.0.0.1:{second.grpc_port}") as ch:
        five_m = window(await status(ch), 300)
    assert (five_m.requests, five_m.errors) == (12, 5)


async def test_threaded_client_takes_records_from_many_threads(engine: object) -> None:
    port = engine.grpc_port  # type: ignore[attr-defined]
    client = ThreadedEngineClient(
        f"127.0.0.1:{port}", "threaded", flush_interval_s=0.02, clock=lambda: T0 - 30
    )
    await asyncio.to_thread(client.start)

    def work() -> None:
        for _ in range(250):
            client.record("checkout", "stable", "/pay", "GET", 200, 0.01)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    await asyncio.to_thread(client.close, 5.0)
    assert client.stats["recorded_requests"] == 1000
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
        assert window(await status(ch), 300).requests == 1000


def test_collector_exports_the_stats_as_metrics() -> None:
    client = client_for(free_port())
    client.record("checkout", "stable", "/pay", "GET", 200, 0.01)
    registry = CollectorRegistry()
    registry.register(EngineClientCollector(client))
    assert registry.get_sample_value("sloengine_client_recorded_requests_total") == 1
    assert registry.get_sample_value("sloengine_client_pending_batches") == 0


async def test_aclose_flushes_what_was_recorded(engine: object) -> None:
    port = engine.grpc_port  # type: ignore[attr-defined]
    client = client_for(port, flush_interval_s=3600)
    await client.start()
    client.record("checkout", "stable", "/pay", "GET", 200, 0.01)
    await client.aclose(timeout_s=5)
    assert client.stats["acked_batches"] == 1


async def test_extra_labels_mark_every_series_of_the_producer(
    engine: object,
) -> None:
    port = engine.grpc_port  # type: ignore[attr-defined]
    client = client_for(port, extra_labels={"revision": "r7"})
    await client.start()
    try:
        for i in range(100):
            client.record("checkout", "canary", "/pay", "POST", 503 if i % 2 else 200, 0.1)
        await until(
            lambda: client.stats["acked_batches"] >= 1 and not client.stats["pending_batches"]
        )
    finally:
        await client.aclose()
    store = engine.state.store  # type: ignore[attr-defined]
    mine = store.window_sum({"service": "checkout", "revision": "r7"}, 600, T0)
    other = store.window_sum({"service": "checkout", "revision": "r8"}, 600, T0)
    assert (mine.requests, mine.errors) == (100, 50)
    assert other.requests == 0
