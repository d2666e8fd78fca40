"""Issue 11 items 1-4 and 8 through the engine's public gRPC and HTTP surfaces.

Each test reproduces a reported integrity failure (a crash, an undercount, a poison
batch, a false readiness) and checks the engine now keeps its promise.
"""

from __future__ import annotations

import asyncio
import errno
import os
import time

import aiohttp
import grpc

from sloengine.app import EngineApp
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from tests.server.conftest import batch, block, push_all, status, window
from tests.support.wait import HANG_S

INVALID = grpc.StatusCode.INVALID_ARGUMENT.value[0]


async def test_a_new_series_after_a_read_is_accepted_and_counted(
    channel: grpc.aio.Channel,
) -> None:
    # Item 1: a read builds a cached selection; a series it does not match used to crash
    # the apply (IndexError), abort every grouped stream and undercount until a restart.
    first = await push_all(channel, batch(1, block(requests=(100,), errors=(1,))))
    assert first[0].status == pb.PushAck.ACCEPTED
    assert window(await status(channel), 300).requests == 100
    known = await push_all(channel, batch(9, block(requests=(1,), errors=(0,))))
    assert known[0].status == pb.PushAck.ACCEPTED  # an apply while the selection exists
    acks = await push_all(channel, batch(2, block("sidecar-new", requests=(5,), errors=(0,))))
    acks += await push_all(channel, batch(3, block(requests=(50,), errors=(0,), route="/other")))
    assert [a.status for a in acks] == [pb.PushAck.ACCEPTED] * 2
    assert window(await status(channel), 300).requests == 151
    again = await push_all(channel, batch(4, block("sidecar-new", requests=(5,), errors=(0,))))
    assert again[0].status == pb.PushAck.ACCEPTED


async def test_finite_poison_is_rejected_naming_the_field(channel: grpc.aio.Channel) -> None:
    # Item 3: 1.7e308 twice made window sums inf and the SLO blind (error ratio 0).
    acks = await push_all(
        channel,
        batch(1, block(requests=(1.7e308,), errors=(0,))),
        batch(2, block(requests=(1.7e308,), errors=(0,))),
        batch(3, block(requests=(100,), errors=(10,))),
    )
    assert [a.status for a in acks] == [pb.PushAck.REJECTED] * 2 + [pb.PushAck.ACCEPTED]
    assert acks[0].code == INVALID
    assert acks[0].message.startswith("blocks[0].requests[0]: must be <= 1e+12 per sample")
    five = window(await status(channel), 300)
    assert (five.requests, five.errors) == (100, 10)


async def test_sequence_poison_is_rejected_and_the_producer_goes_on(
    channel: grpc.aio.Channel,
) -> None:
    # Item 4: one batch with sequence 2**64-1 made every later batch of its producer a
    # DUPLICATE (dropped), surviving snapshots.
    acks = await push_all(channel, batch(2**64 - 1, block(requests=(1,), errors=(0,))))
    assert acks[0].status == pb.PushAck.REJECTED and acks[0].code == INVALID
    assert acks[0].message.startswith("sequence: 18446744073709551615 is more than one day")
    later = await push_all(channel, batch(5, block(requests=(7,), errors=(0,))))
    assert later[0].status == pb.PushAck.ACCEPTED
    assert window(await status(channel), 300).requests == 7


class _FullDisk:
    def __init__(self, real) -> None:  # type: ignore[no-untyped-def]
        self.real = real

    def write(self, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.real, name)


async def test_readiness_reports_a_failed_wal_and_recovers_without_restart(
    engine: EngineApp, channel: grpc.aio.Channel
) -> None:
    # Item 8 (injected ENOSPC; tests/server/test_integrity_process.py fills a real tmpfs).
    url = f"http://127.0.0.1:{engine.http_port}/readyz"
    durable = engine.state.durable
    assert durable is not None and durable._wal is not None
    async with aiohttp.ClientSession() as http:
        assert (await http.get(url)).status == 200
        durable._wal._file = _FullDisk(durable._wal._file)  # type: ignore[assignment]
        call_failed = False
        try:
            await push_all(channel, batch(1, block(requests=(10,), errors=(0,))))
        except grpc.aio.AioRpcError as exc:
            call_failed = exc.code() == grpc.StatusCode.UNAVAILABLE
        assert call_failed  # never acknowledged
        resp = await http.get(url)
        assert resp.status == 503
        assert "No space left on device" in await resp.text()
        # The disk has room again (the injected file is dropped with the failed writer).
        deadline = time.monotonic() + HANG_S  # only bounds a hang: recovery is in the background
        while (await http.get(url)).status != 200 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert (await http.get(url)).status == 200
    acks = await push_all(channel, batch(1, block(requests=(10,), errors=(0,))))
    assert acks[0].status == pb.PushAck.ACCEPTED  # the resend is applied, not a DUPLICATE
    assert window(await status(channel), 300).requests == 10
