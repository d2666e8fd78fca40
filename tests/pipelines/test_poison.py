"""Inputs that once made remote_write/OTLP ack data the store never counted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import grpc
import pytest

from sloengine.app import EngineApp
from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS as BOUNDS
from sloengine.conventions import PIPELINES_PRODUCER_ID
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from tests.pipelines.rw import HEADERS, histogram_scrape, write_request
from tests.server.conftest import T0, push_all

pytestmark = pytest.mark.asyncio

MS = int(T0 * 1000)


def scrape(service: str, ts_ms: int, total: float) -> list[Any]:
    labels = {"service": service, "variant": "stable", "route": "/x", "method": "GET",
              "status": "200", "instance": "a:1", "job": "j"}  # fmt: skip
    return histogram_scrape(labels, ts_ms, [*[(f"{b:g}", total) for b in BOUNDS], ("+Inf", total)])


def requests(engine: EngineApp, service: str) -> float:
    return engine.state.store.window_sum({"service": service}, 3600, T0 + 60).requests


@pytest.fixture
async def engine(start_engine: Any) -> EngineApp:
    app: EngineApp = await start_engine()
    return app


@pytest.fixture
async def post(engine: EngineApp) -> AsyncIterator[Any]:
    async with aiohttp.ClientSession() as session:

        async def send(body: bytes) -> tuple[int, str]:
            url = f"http://127.0.0.1:{engine.http_port}/api/v1/write"
            async with session.post(url, data=body, headers=HEADERS) as resp:
                return resp.status, await resp.text()

        yield send


async def test_one_oversized_increment_does_not_drop_the_rest_of_the_request(
    engine: EngineApp, post: Any
) -> None:
    """A counter jumping by more than one sample may carry (1e12) is refused alone, with a
    400 naming it; the other series of the same request are counted (they were all dropped
    silently, after a 204)."""
    assert (await post(write_request(scrape("pay", MS - 20_000, 10))))[0] == 204
    code, text = await post(
        write_request(scrape("pay", MS - 10_000, 15) + scrape("huge", MS - 10_000, 2e12))
    )
    assert (code, text) == (400, "samples dropped: 1 too large; the others were counted\n")
    assert requests(engine, "pay") == 15
    assert requests(engine, "huge") == 0
    # Later scrapes of the huge counter count normally from it, at the 1e12 bound exactly.
    assert (await post(write_request(scrape("huge", MS, 3e12))))[0] == 204
    assert requests(engine, "huge") == 1e12


async def test_native_push_cannot_take_the_receivers_producer_id(
    engine: EngineApp, post: Any
) -> None:
    """The receivers number their store batches 1, 2, ... under their own producer id: a
    native Push under that id claimed later numbers, and the receivers' batches with them
    were acked (204) as DUPLICATE and never counted."""
    assert (await post(write_request(scrape("pay", MS - 20_000, 10))))[0] == 204
    async with grpc.aio.insecure_channel(f"127.0.0.1:{engine.grpc_port}") as channel:
        batches = []
        for sequence in (2, 3, int(T0 * 1e6)):
            req = pb.PushRequest(producer_id=PIPELINES_PRODUCER_ID, sequence=sequence)
            block = req.blocks.add(timestamps_unix_ms=[MS - 15_000], requests=[1], errors=[0])
            block.key.service = "intruder"
            batches.append(req)
        acks = await push_all(channel, *batches)
    assert [a.status for a in acks] == [pb.PushAck.REJECTED] * 3
    assert {a.code for a in acks} == {grpc.StatusCode.INVALID_ARGUMENT.value[0]}
    assert "producer_id: reserved" in acks[0].message
    assert requests(engine, "intruder") == 0
    for i, total in enumerate((20, 30, 45), start=1):
        assert (await post(write_request(scrape("pay", MS - 20_000 + i * 5_000, total))))[0] == 204
    assert requests(engine, "pay") == 45
