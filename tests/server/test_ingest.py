"""IngestService/Push: exact counts, dedupe, precise rejections, limits."""

from __future__ import annotations

import math

import grpc
import pytest

from sloengine.app import EngineApp
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from tests.server.conftest import T0, EngineFactory, batch, block, push_all, status, window

INVALID = grpc.StatusCode.INVALID_ARGUMENT.value[0]
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]


async def test_pushed_counts_come_back_exact_in_get_status(channel: grpc.aio.Channel) -> None:
    acks = await push_all(
        channel,
        batch(
            1, block(ts_s=(T0 - 240, T0 - 120, T0 - 10), requests=(100, 200, 700), errors=(1, 2, 7))
        ),
        batch(2, block(variant="canary", ts_s=(T0 - 30,), requests=(1000,), errors=(40,))),
    )
    assert [a.status for a in acks] == [pb.PushAck.ACCEPTED] * 2
    assert [a.samples_accepted for a in acks] == [3, 1]

    st = await status(channel)
    five_m = window(st, 300)
    assert (five_m.requests, five_m.errors) == (2000, 50)
    assert five_m.error_ratio == pytest.approx(50 / 2000)
    assert five_m.burn_rate == pytest.approx((50 / 2000) / 0.01)
    assert st.has_data
    assert st.eval_time.seconds == int(T0)


async def test_duplicate_batch_is_acked_but_not_counted_twice(channel: grpc.aio.Channel) -> None:
    first = await push_all(channel, batch(7, block(requests=(10,), errors=(1,))))
    again = await push_all(channel, batch(7, block(requests=(10,), errors=(1,))))
    assert first[0].status == pb.PushAck.ACCEPTED
    assert again[0].status == pb.PushAck.DUPLICATE
    assert again[0].samples_accepted == 0
    assert window(await status(channel), 300).requests == 10


@pytest.mark.parametrize(
    ("bad_block", "field"),
    [
        (block(requests=(math.nan,)), "blocks[0].requests[0]"),
        (block(requests=(math.inf,)), "blocks[0].requests[0]"),
        (block(requests=(-1,), errors=(0,)), "blocks[0].requests[0]"),
        (block(requests=(5,), errors=(6,)), "blocks[0].errors[0]"),
        (block(ts_s=(T0 + 3600,)), "blocks[0].timestamps_unix_ms[0]"),
        (block(ts_s=(T0 - 400 * 86400,)), "blocks[0].timestamps_unix_ms[0]"),
        (block(ts_s=(T0 - 60, T0 - 30), requests=(1,), errors=(0,)), "blocks[0].requests"),
        (block(service=""), "blocks[0].key.service"),
    ],
    ids=[
        "nan",
        "inf",
        "negative",
        "errors-above-requests",
        "future",
        "too-old",
        "lengths",
        "no-service",
    ],
)
async def test_invalid_batch_is_rejected_naming_the_field_and_the_stream_goes_on(
    channel: grpc.aio.Channel, bad_block: pb.SeriesBlock, field: str
) -> None:
    acks = await push_all(
        channel, batch(1, bad_block), batch(2, block(requests=(10,), errors=(0,)))
    )
    rejected, accepted = acks
    assert rejected.status == pb.PushAck.REJECTED
    assert rejected.code == INVALID
    assert rejected.message.startswith(field), rejected.message
    assert accepted.status == pb.PushAck.ACCEPTED


async def test_rejected_batch_leaves_accepted_data_intact(channel: grpc.aio.Channel) -> None:
    await push_all(channel, batch(1, block(requests=(50,), errors=(5,))))
    acks = await push_all(
        channel, batch(2, block(requests=(1000,), errors=(1000,)), block(requests=(-5,)))
    )
    assert acks[0].status == pb.PushAck.REJECTED
    assert acks[0].message.startswith("blocks[1].requests[0]")
    five_m = window(await status(channel), 300)
    assert (five_m.requests, five_m.errors) == (50, 5)


async def test_series_beyond_the_limit_are_resource_exhausted(start_engine: EngineFactory) -> None:
    engine = await start_engine(max_series=2)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{engine.grpc_port}") as ch:
        acks = await push_all(
            ch,
            batch(1, block(route="/a"), block(route="/b")),
            batch(2, block(route="/c")),
            batch(3, block(route="/a", requests=(7,), errors=(0,))),
        )
        assert [a.status for a in acks] == [
            pb.PushAck.ACCEPTED,
            pb.PushAck.REJECTED,
            pb.PushAck.ACCEPTED,
        ]
        assert acks[1].code == EXHAUSTED
        assert "series" in acks[1].message
        assert window(await status(ch), 300).requests == 207


async def test_oversized_message_fails_the_stream_with_resource_exhausted(
    start_engine: EngineFactory,
) -> None:
    engine = await start_engine(max_message_bytes=64 * 1024)
    big = batch(1, *(block(route=f"/r{i:05d}") for i in range(4000)))
    assert big.ByteSize() > 64 * 1024
    async with grpc.aio.insecure_channel(f"127.0.0.1:{engine.grpc_port}") as ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await push_all(ch, big)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # The engine is fine afterwards, on a new stream.
        assert (await push_all(ch, batch(2, block())))[0].status == pb.PushAck.ACCEPTED


async def test_batches_in_flight_on_one_stream_are_all_acked_and_share_fsyncs(
    engine: EngineApp, channel: grpc.aio.Channel
) -> None:
    n = 300
    acks = await push_all(
        channel, *(batch(i + 1, block(requests=(2,), errors=(1,))) for i in range(n))
    )
    assert [a.sequence for a in acks] == list(range(1, n + 1))
    assert {a.status for a in acks} == {pb.PushAck.ACCEPTED}
    five_m = window(await status(channel), 300)
    assert (five_m.requests, five_m.errors) == (2 * n, n)
    # Pipelining: batches waiting on the same group commit share one fsync.
    fsyncs = engine.state.registry.get_sample_value("sloengine_wal_fsync_latency_seconds_count")
    assert fsyncs is not None and 1 <= fsyncs < n


async def test_garbage_bytes_are_rejected_not_fatal(channel: grpc.aio.Channel) -> None:
    push = channel.stream_stream(
        "/sloengine.v1.IngestService/Push",
        request_serializer=None,
        response_deserializer=pb.PushAck.FromString,
    )
    call = push()
    await call.write(b"\xff\xff\xff")
    await call.write(batch(1, block()).SerializeToString())
    await call.done_writing()
    acks = [a async for a in call]
    assert sorted(a.status for a in acks) == [pb.PushAck.ACCEPTED, pb.PushAck.REJECTED]
    assert any(a.message.startswith("batch:") for a in acks)


async def test_metrics_count_batches_by_outcome(
    channel: grpc.aio.Channel, engine: EngineApp
) -> None:
    await push_all(channel, batch(1, block()), batch(1, block()), batch(2, block(requests=(-1,))))
    registry = engine.state.registry
    value = registry.get_sample_value
    assert value("sloengine_ingest_batches_total", {"outcome": "accepted"}) == 1
    assert value("sloengine_ingest_batches_total", {"outcome": "duplicate"}) == 1
    assert value("sloengine_ingest_batches_total", {"outcome": "rejected"}) == 1
    assert value("sloengine_ingest_samples_total") == 1
    assert value("sloengine_store_series") == 1
    assert value("sloengine_ingest_ack_latency_seconds_count") == 2


async def test_push_stub_generated_client_works(channel: grpc.aio.Channel) -> None:
    """The committed stub (with its deserializer) talks to the bytes-level handler."""
    stub = pb_grpc.IngestServiceStub(channel)
    acks = [a async for a in stub.Push(iter([batch(1, block())]))]
    assert acks[0].status == pb.PushAck.ACCEPTED
