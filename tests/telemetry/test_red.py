"""The one RED recorder: what /metrics shows and what the engine receives are the same
requests, in the same buckets, with the same 5xx rule.

The engine side is a real `EngineClient` streaming to an in-process gRPC IngestService that
keeps every PushRequest; the Prometheus side is the text exposition, parsed back.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from sloengine import conventions as c
from sloengine.client import EngineClient
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from sloengine.telemetry.red import (
    LATENCY_BOUNDS,
    RedCollector,
    bucket_index,
    is_server_error,
)
from tests.support.wait import until


class _KeepingIngest(pb_grpc.IngestServiceServicer):
    """An IngestService that accepts every batch and keeps it."""

    def __init__(self) -> None:
        self.requests: list[pb.PushRequest] = []

    async def Push(
        self, request_iterator: AsyncIterator[pb.PushRequest], context: Any
    ) -> AsyncIterator[pb.PushAck]:
        async for request in request_iterator:
            self.requests.append(request)
            yield pb.PushAck(
                producer_id=request.producer_id,
                sequence=request.sequence,
                status=pb.PushAck.ACCEPTED,
            )


@pytest.fixture
async def ingest() -> AsyncIterator[tuple[_KeepingIngest, int]]:
    server = grpc.aio.server()
    keeping = _KeepingIngest()
    pb_grpc.add_IngestServiceServicer_to_server(keeping, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield keeping, port
    await server.stop(0)


def _durations() -> list[float]:
    """Every bound, the floats either side of it, zero, huge, and a seeded spread."""
    out = [0.0, 1e-9, 3600.0, math.inf]
    for bound in LATENCY_BOUNDS:
        out += [math.nextafter(bound, 0.0), bound, math.nextafter(bound, math.inf)]
    rng = random.Random(12)
    out += [rng.expovariate(4.0) for _ in range(300)]
    return out


def _requests() -> Iterator[tuple[str, str, int, float]]:
    rng = random.Random(7)
    for duration in _durations():
        route = rng.choice(["/docs/{id}", "/search", c.UNMATCHED_ROUTE])
        method = rng.choice(["GET", "POST"])
        status = rng.choice([200, 201, 404, 429, 499, 500, 503, 504])
        yield route, method, status, duration


def _exposition(registry: CollectorRegistry) -> dict[str, list[Any]]:
    text = generate_latest(registry).decode()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


async def test_metrics_and_engine_see_the_same_requests_buckets_and_errors(
    ingest: tuple[_KeepingIngest, int],
) -> None:
    keeping, port = ingest
    client = EngineClient(f"127.0.0.1:{port}", "red-test", flush_interval_s=3600)
    await client.start()
    registry = CollectorRegistry()
    collector = RedCollector()
    registry.register(collector)
    recorder = collector.recorder("docs", "canary", "rev-1", engine=client)
    sent = list(_requests())
    for route, method, status, duration in sent:
        recorder.started()
        recorder.record(route, method, status, duration)
    client.flush()
    await until(lambda: keeping.requests and not client.stats["pending_batches"], "the batch acked")
    await client.aclose()

    # The engine's view: per (route, method), requests, 5xx errors, finite buckets.
    engine: dict[tuple[str, str], tuple[int, int, list[int]]] = {}
    for request in keeping.requests:
        for block in request.blocks:
            assert list(block.latency_bounds_seconds) == list(LATENCY_BOUNDS)
            assert block.key.extra_labels[c.LABEL_REVISION] == "rev-1"
            assert (block.key.service, block.key.variant) == ("docs", "canary")
            engine[(block.key.route, block.key.method)] = (
                sum(block.requests),
                sum(block.errors),
                list(block.latency_bucket_counts),
            )

    # The exposition's view, summed over status codes the same way.
    samples = _exposition(registry)
    requests: dict[tuple[str, str], int] = defaultdict(int)
    errors: dict[tuple[str, str], int] = defaultdict(int)
    cumulative: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for s in samples[c.HTTP_REQUESTS_TOTAL.removesuffix("_total")]:
        key = (s.labels[c.LABEL_ROUTE], s.labels[c.LABEL_METHOD])
        requests[key] += int(s.value)
        if is_server_error(int(s.labels[c.LABEL_STATUS])):
            errors[key] += int(s.value)
    for s in samples[c.HTTP_REQUEST_DURATION_SECONDS]:
        if s.name.endswith("_bucket"):
            key = (s.labels[c.LABEL_ROUTE], s.labels[c.LABEL_METHOD])
            cumulative[key][s.labels["le"]] += s.value

    expected_requests: dict[tuple[str, str], int] = defaultdict(int)
    for route, method, _, _ in sent:
        expected_requests[(route, method)] += 1
    assert dict(requests) == dict(expected_requests)
    assert set(engine) == set(requests)
    for key, (n, n_errors, buckets) in engine.items():
        assert n == requests[key]
        assert n_errors == errors[key]
        running = 0
        for bound, count in zip(LATENCY_BOUNDS, buckets, strict=True):
            running += count
            assert cumulative[key][str(bound)] == running, (key, bound)
        assert cumulative[key]["+Inf"] == n
    in_flight = samples[c.HTTP_REQUESTS_IN_FLIGHT]
    assert [(s.labels, s.value) for s in in_flight] == [
        ({c.LABEL_SERVICE: "docs", c.LABEL_VARIANT: "canary"}, 0.0)
    ]


def test_a_duration_on_a_bound_counts_in_that_bound() -> None:
    # Prometheus `le`: the bucket whose upper bound is >= the duration.
    for i, bound in enumerate(LATENCY_BOUNDS):
        assert bucket_index(bound) == i
        assert bucket_index(math.nextafter(bound, math.inf)) == i + 1
    assert bucket_index(math.inf) == len(LATENCY_BOUNDS)
    assert [s for s in (199, 499, 500, 599) if is_server_error(s)] == [500, 599]


def test_exposition_is_sorted_and_a_relabelled_pod_gets_new_series() -> None:
    registry = CollectorRegistry()
    collector = RedCollector(thread_safe=False, count_in_flight=False)
    registry.register(collector)
    stable = collector.recorder("gw", "stable", "r1")
    assert stable.with_identity("stable", "r1") is stable
    stable.record("/b", "GET", 500, 0.2)
    stable.record("/a", "GET", 200, 0.2)
    canary = stable.with_identity("canary", "r2")
    assert (canary.service, canary.variant, canary.revision) == ("gw", "canary", "r2")
    canary.record("/a", "GET", 200, 0.2)
    samples = _exposition(registry)
    assert c.HTTP_REQUESTS_IN_FLIGHT not in samples  # the owner counts in-flight itself
    totals = [
        (s.labels[c.LABEL_VARIANT], s.labels[c.LABEL_ROUTE], s.labels[c.LABEL_STATUS], s.value)
        for s in samples[c.HTTP_REQUESTS_TOTAL.removesuffix("_total")]
        if s.name.endswith("_total")
    ]
    assert totals == [("canary", "/a", "200", 1.0), ("stable", "/a", "200", 1.0),
                      ("stable", "/b", "500", 1.0)]  # fmt: skip
