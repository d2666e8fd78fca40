"""Health, reflection, bearer token, HTTP endpoints and graceful shutdown."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import httpx
import pytest
from aiohttp import web
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from sloengine.app import EngineApp
from sloengine.http import require_token
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from tests.server.conftest import EngineFactory, batch, block, push_all, status, window

TOKEN = "s3cret-token"
AUTH = (("authorization", f"Bearer {TOKEN}"),)


async def test_health_reports_serving_for_the_engine_and_each_service(
    channel: grpc.aio.Channel,
) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    for name in ("", "sloengine.v1.IngestService", "sloengine.v1.SLOService"):
        resp = await stub.Check(health_pb2.HealthCheckRequest(service=name))
        assert resp.status == health_pb2.HealthCheckResponse.SERVING, name


async def test_reflection_lists_the_engine_services(channel: grpc.aio.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    req = reflection_pb2.ServerReflectionRequest(list_services="")
    responses = [r async for r in stub.ServerReflectionInfo(iter([req]))]
    names = {s.name for s in responses[0].list_services_response.service}
    assert {
        "sloengine.v1.IngestService",
        "sloengine.v1.SLOService",
        "grpc.health.v1.Health",
    } <= names


@pytest.fixture
async def token_engine(start_engine: EngineFactory, tmp_path: Path) -> EngineApp:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    engine: EngineApp = await start_engine(token_file=token_file)
    return engine


@pytest.mark.parametrize(
    ("metadata", "needle"),
    [(None, "missing"), ((("authorization", "Bearer wrong"),), "invalid")],
    ids=["missing", "wrong"],
)
async def test_calls_without_the_right_token_are_unauthenticated(
    token_engine: EngineApp, metadata: object, needle: str
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{token_engine.grpc_port}") as ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await pb_grpc.SLOServiceStub(ch).ListSLOs(pb.ListSLOsRequest(), metadata=metadata)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert needle in (err.value.details() or "")
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await push_all(ch, batch(1, block()), metadata=metadata)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_the_right_token_is_accepted_and_health_needs_none(token_engine: EngineApp) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{token_engine.grpc_port}") as ch:
        acks = await push_all(ch, batch(1, block()), metadata=AUTH)
        assert acks[0].status == pb.PushAck.ACCEPTED
        assert window(await status(ch, metadata=AUTH), 300).requests == 100
        health = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest())
        assert health.status == health_pb2.HealthCheckResponse.SERVING


async def test_http_health_ready_and_metrics(engine: EngineApp, channel: grpc.aio.Channel) -> None:
    await push_all(channel, batch(1, block()))
    base = f"http://127.0.0.1:{engine.http_port}"
    async with httpx.AsyncClient(base_url=base) as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).status_code == 200
        metrics = (await http.get("/metrics")).text
    assert 'sloengine_ingest_batches_total{outcome="accepted"} 1.0' in metrics
    assert "sloengine_store_series 1.0" in metrics
    assert "sloengine_wal_fsync_latency_seconds_bucket" in metrics


async def test_require_token_answers_401_without_and_403_with_a_wrong_token(
    token_engine: EngineApp,
) -> None:
    state = token_engine.state

    async def mutate(request: web.Request) -> web.Response:
        require_token(state.credentials, request)
        return web.Response(text="done")

    app = web.Application()
    app.router.add_post("/mutate", mutate)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.post("/mutate")).status_code == 401
            wrong = {"Authorization": "Bearer nope"}
            assert (await http.post("/mutate", headers=wrong)).status_code == 403
            right = {"Authorization": f"Bearer {TOKEN}"}
            assert (await http.post("/mutate", headers=right)).text == "done"
    finally:
        await runner.cleanup()


async def test_graceful_stop_finishes_open_streams_then_snapshots(
    start_engine: EngineFactory, tmp_path: Path
) -> None:
    data = tmp_path / "graceful"
    engine = await start_engine(data_dir=data)
    ch = grpc.aio.insecure_channel(f"127.0.0.1:{engine.grpc_port}")
    call = pb_grpc.IngestServiceStub(ch).Push()
    await call.write(batch(1, block(requests=(42,), errors=(0,))))
    first = await call.read()
    assert first.status == pb.PushAck.ACCEPTED
    stopping = asyncio.create_task(engine.stop(grace_s=5))
    await asyncio.sleep(0.1)
    async with httpx.AsyncClient() as http:
        ready = await http.get(f"http://127.0.0.1:{engine.http_port}/readyz")
    assert ready.status_code == 503  # load balancers stop sending while streams finish
    await call.done_writing()
    await stopping
    await ch.close()

    restarted = await start_engine(data_dir=data)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{restarted.grpc_port}") as ch2:
        assert window(await status(ch2), 300).requests == 42
