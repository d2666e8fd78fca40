"""OTLP metrics in, from the OTel SDK's own exporters (gRPC and HTTP): exact totals."""

from __future__ import annotations

import asyncio
import gzip
import random
import time
from typing import Any

import aiohttp
import pytest
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as GrpcExporter,
)
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpExporter,
)
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.semconv.attributes import http_attributes, service_attributes

from sloengine.app import EngineApp
from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS as BOUNDS
from sloengine.pipelines import OTLP_METRICS_PATH

pytestmark = pytest.mark.asyncio

DURATION = "http.server.request.duration"


@pytest.fixture
async def engine(start_engine: Any) -> EngineApp:
    # The SDK stamps points with the real clock: let the engine's clock be real too.
    app: EngineApp = await start_engine(max_future_skew_seconds=None)
    app.state.clock = time.time
    app.state.max_sample_age_seconds = 3600.0
    return app


def provider(exporter: Any, revision: str = "rev-7", temporality: Any = None) -> MeterProvider:
    resource = Resource.create({
        service_attributes.SERVICE_NAME: "checkout",
        service_attributes.SERVICE_VERSION: revision,
        "sloengine.variant": "canary",
    })  # fmt: skip
    if temporality is not None:
        exporter._preferred_temporality = {Histogram: temporality, Counter: temporality}
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    return MeterProvider(resource=resource, metric_readers=[reader])


def record(meter_provider: MeterProvider, n: int, seed: int) -> tuple[int, int, dict[float, int]]:
    """n requests with random durations and statuses; the oracle's totals."""
    rng = random.Random(seed)
    meter = meter_provider.get_meter("test")
    hist = meter.create_histogram(
        DURATION, unit="s", explicit_bucket_boundaries_advisory=list(BOUNDS)
    )
    errors = 0
    below: dict[float, int] = dict.fromkeys(BOUNDS, 0)
    for _ in range(n):
        seconds = rng.choice([0.003, 0.04, 0.2, 0.7, 2.0, 12.0])
        status = rng.choice([200, 200, 200, 404, 503])
        errors += status >= 500
        for b in BOUNDS:
            below[b] += seconds <= b
        hist.record(seconds, {
            http_attributes.HTTP_ROUTE: "/pay",
            http_attributes.HTTP_REQUEST_METHOD: "POST",
            http_attributes.HTTP_RESPONSE_STATUS_CODE: status,
        })  # fmt: skip
    return n, errors, below


def window(engine: EngineApp) -> Any:
    return engine.state.store.window_sum(
        {"service": "checkout", "variant": "canary", "revision": "rev-7"}, 7200, time.time() + 60
    )


def assert_totals(engine: EngineApp, requests: int, errors: int, below: dict[float, int]) -> None:
    got = window(engine)
    assert (got.requests, got.errors) == (requests, errors)
    cumulative = 0.0
    for bound, count in zip(got.latency_bounds_seconds, got.latency_counts, strict=True):
        cumulative += count
        assert cumulative == below[bound], bound


@pytest.mark.parametrize(
    "temporality", [AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA]
)
async def test_sdk_grpc_exporter_totals_are_exact(engine: EngineApp, temporality: Any) -> None:
    exporter = GrpcExporter(endpoint=f"127.0.0.1:{engine.grpc_port}", insecure=True)
    mp = provider(exporter, temporality=temporality)
    want = [0, 0, dict.fromkeys(BOUNDS, 0)]
    for round_ in range(3):  # three exports, each after more traffic
        n, e, below = record(mp, 40, seed=round_)
        want = [want[0] + n, want[1] + e, {b: want[2][b] + below[b] for b in BOUNDS}]
        assert await _flush(mp)
    await asyncio.to_thread(mp.shutdown)
    assert_totals(engine, *want)


async def test_sdk_http_exporter_totals_are_exact(engine: EngineApp) -> None:
    exporter = HttpExporter(endpoint=f"http://127.0.0.1:{engine.http_port}{OTLP_METRICS_PATH}")
    mp = provider(exporter)
    n, e, below = record(mp, 60, seed=9)
    assert await _flush(mp)
    assert await _flush(mp)  # a second cumulative export with nothing new: no change
    await asyncio.to_thread(mp.shutdown)
    assert_totals(engine, n, e, below)


async def _flush(mp: MeterProvider) -> bool:

    # The SDK exporters block: run them off the loop the engine serves on.
    return await asyncio.to_thread(mp.force_flush, 10_000)


async def test_malformed_otlp_http_is_400_with_a_status(engine: EngineApp) -> None:
    url = f"http://127.0.0.1:{engine.http_port}{OTLP_METRICS_PATH}"
    async with aiohttp.ClientSession() as s:
        async with s.post(
            url, data=b"\xff\xff", headers={"Content-Type": "application/x-protobuf"}
        ) as r:
            assert r.status == 400
            from google.rpc import status_pb2

            assert (
                "ExportMetricsServiceRequest"
                in status_pb2.Status.FromString(await r.read()).message
            )
        async with s.post(url, data=b"{}", headers={"Content-Type": "text/plain"}) as r:
            assert r.status == 415
        body = gzip.compress(ms.ExportMetricsServiceRequest().SerializeToString())
        headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
        async with s.post(url, data=body, headers=headers) as r:
            assert r.status == 200
        async with s.post(
            url, data=b'{"resourceMetrics": []}', headers={"Content-Type": "application/json"}
        ) as r:
            assert r.status == 200 and r.content_type == "application/json"
    assert window(engine).requests == 0


async def test_latency_threshold_off_the_senders_buckets_refuses_the_slo(
    engine: EngineApp,
) -> None:
    import grpc

    from sloengine.proto.sloengine.v1 import engine_pb2 as pb
    from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc

    exporter = GrpcExporter(endpoint=f"127.0.0.1:{engine.grpc_port}", insecure=True)
    mp = provider(exporter)
    hist = mp.get_meter("test").create_histogram(
        DURATION, unit="s", explicit_bucket_boundaries_advisory=[0.2, 0.7]
    )
    hist.record(
        0.3, {http_attributes.HTTP_ROUTE: "/pay", http_attributes.HTTP_RESPONSE_STATUS_CODE: 200}
    )
    assert await _flush(mp)
    await asyncio.to_thread(mp.shutdown)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{engine.grpc_port}") as ch:
        stub = pb_grpc.SLOServiceStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetStatus(pb.GetStatusRequest(service="checkout", slo="latency"))
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "threshold 0.5 s is not a bucket bound" in str(err.value.details())
        assert "0.2, 0.7" in str(err.value.details())
        # The same data still serves the availability SLO.
        resp = await stub.GetStatus(pb.GetStatusRequest(service="checkout", slo="availability"))
        assert resp.statuses[0].slo.name == "availability"
    assert window(engine).requests == 1
