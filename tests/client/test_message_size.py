"""EngineClient under a message size limit, against a real engine that enforces a small one:
batches are split by encoded size, an oversized batch never blocks the ones after it, and
what cannot be sent at all is counted."""

from __future__ import annotations

import grpc

from sloengine.client import EngineClient
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from tests.client.test_client import client_for, until
from tests.server.conftest import T0, EngineFactory, batch, block, status, window

ENGINE_LIMIT = 64 * 1024  # the engine's max_message_bytes in these tests
SERIES = 1500  # one flush of this many series is ~5x the limit


def record_many(client: EngineClient, routes: int, per_route: int = 1) -> None:
    for r in range(routes):
        for i in range(per_route):
            client.record("checkout", "canary", f"/r{r}", "GET", 500 if i == 0 else 200, 0.01)


async def totals(port: int) -> tuple[float, float]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
        w = window(await status(ch), 300)
    return w.requests, w.errors


async def drained(client: EngineClient) -> None:
    await until(lambda: not client.stats["pending_batches"])


async def test_a_flush_over_the_limit_is_split_up_front(start_engine: EngineFactory) -> None:
    engine = await start_engine(max_message_bytes=ENGINE_LIMIT)
    client = client_for(engine.grpc_port, max_message_bytes=ENGINE_LIMIT, flush_interval_s=3600)
    await client.start()
    try:
        record_many(client, SERIES, per_route=2)
        client.flush()
        await drained(client)
        stats = client.stats
    finally:
        await client.aclose()
    assert stats["split_batches"] >= 4 and stats["stream_errors"] == 0
    assert stats["unsendable_batches"] == 0 and stats["rejected_batches"] == 0
    assert await totals(engine.grpc_port) == (2 * SERIES, SERIES)


async def test_an_engine_limit_lower_than_the_clients_does_not_wedge_the_stream(
    start_engine: EngineFactory,
) -> None:
    engine = await start_engine(max_message_bytes=ENGINE_LIMIT)
    # The client believes the default 4 MiB: its first big batch is refused by the engine.
    client = client_for(engine.grpc_port, flush_interval_s=3600, backoff_max_s=0.05)
    await client.start()
    try:
        record_many(client, SERIES)
        client.flush()
        record_many(client, 3)  # a later, small batch must not wait behind the big one
        client.flush()
        await drained(client)
        stats = client.stats
    finally:
        await client.aclose()
    assert stats["stream_errors"] >= 1  # the refusal happened...
    assert client.max_message_bytes <= ENGINE_LIMIT  # ...and taught the client the limit
    assert stats["split_batches"] >= 4 and stats["unsendable_batches"] == 0
    assert await totals(engine.grpc_port) == (SERIES + 3, SERIES + 3)


async def test_what_cannot_fit_any_message_is_counted_not_sent(
    start_engine: EngineFactory,
) -> None:
    engine = await start_engine(max_message_bytes=ENGINE_LIMIT)
    client = client_for(engine.grpc_port, max_message_bytes=ENGINE_LIMIT, flush_interval_s=3600)
    await client.start()
    try:
        client.record("checkout", "canary", "/" + "x" * ENGINE_LIMIT, "GET", 200, 0.01)
        client.record("checkout", "canary", "/ok", "GET", 500, 0.01)
        client.flush()
        await drained(client)
        too_big = pb.PushRequest(
            blocks=[block(ts_s=[T0 - 60] * 3000, requests=[1.0] * 3000, errors=[0.0] * 3000)]
        )
        ack = await client.push(too_big)
        ok = await client.push(batch(0, block(ts_s=(T0 - 60,), requests=(5.0,), errors=(0.0,))))
        stats = client.stats
    finally:
        await client.aclose()
    assert ack.status == pb.PushAck.REJECTED and "max_message_bytes" in ack.message
    assert ok.status == pb.PushAck.ACCEPTED
    assert stats["unsendable_batches"] == 2 and stats["unsendable_samples"] == 3001
    assert await totals(engine.grpc_port) == (6, 1)
