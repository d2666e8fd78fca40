"""Server and client spans over OTLP/HTTP to a collector on loopback; a dead collector
costs spans (counted), never requests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.sidecar.harness import RecordingApp, SidecarProcess, header_values
from tests.support.net import refused_port
from tests.support.wait import HANG_S, wait_until

pytestmark = pytest.mark.integration

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


class Collector:
    """An OTLP/HTTP trace receiver (POST /v1/traces, protobuf) in its own thread."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, Span]] = []  # (service.name, span)
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def start(self) -> Collector:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/traces", self._traces)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _traces(self, request: web.Request) -> web.Response:
        req = ExportTraceServiceRequest.FromString(await request.read())
        for rs in req.resource_spans:
            name = next(
                a.value.string_value for a in rs.resource.attributes if a.key == "service.name"
            )
            for ss in rs.scope_spans:
                self.spans.extend((name, s) for s in ss.spans)
        return web.Response(body=b"", content_type="application/x-protobuf")

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    c = Collector().start()
    yield c
    c.stop()


def _otel_env(endpoint: str, **extra: str) -> dict[str, str]:
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100", **extra}


def test_server_and_client_spans_are_exported_with_the_propagated_ids(
    app: RecordingApp, downstream: RecordingApp, collector: Collector
) -> None:
    proc = SidecarProcess(app.url, env=_otel_env(f"http://127.0.0.1:{collector.port}")).start()
    app.egress = proc.addresses["egress"]
    try:
        resp = httpx.get(
            proc.url + "/callback",
            params={"to": downstream.url},
            headers={"traceparent": f"00-{TRACE}-{PARENT}-01"},
        )
        result = resp.json()
        app_parent = header_values(result["seen"], "traceparent")[0].split("-")[2]
        egress_parent = header_values(result["calls"][0]["echo"], "traceparent")[0].split("-")[2]
        deadline = time.monotonic() + HANG_S
        while (
            time.monotonic() < deadline
            and len([s for _, s in collector.spans if s.trace_id.hex() == TRACE]) < 2
        ):
            time.sleep(0.05)
        spans = {s.kind: (name, s) for name, s in collector.spans if s.trace_id.hex() == TRACE}
        server_name, server = spans[Span.SPAN_KIND_SERVER]
        _, client = spans[Span.SPAN_KIND_CLIENT]
        assert server_name == "svc"
        assert server.name == "GET /callback"
        assert server.parent_span_id.hex() == PARENT
        assert server.span_id.hex() == app_parent
        assert client.parent_span_id.hex() == app_parent  # the app forwarded what it received
        assert client.span_id.hex() == egress_parent
        assert server.end_time_unix_nano >= client.end_time_unix_nano >= client.start_time_unix_nano
        attrs = {a.key: a.value for a in server.attributes}
        assert attrs["http.route"].string_value == "/callback"
        assert attrs["http.response.status_code"].int_value == 200
        # Counted by the export thread once the collector has answered: after the collector
        # has the spans, so wait for it rather than read it at once.
        wait_until(lambda: proc.metric("sidecar_spans_exported_total") >= 2, "spans counted")
    finally:
        proc.terminate()


def test_unsampled_requests_export_no_span(app: RecordingApp, collector: Collector) -> None:
    proc = SidecarProcess(app.url, env=_otel_env(f"http://127.0.0.1:{collector.port}")).start()
    try:
        trace = "a" * 32
        assert (
            httpx.get(
                proc.url + "/echo", headers={"traceparent": f"00-{trace}-{PARENT}-00"}
            ).status_code
            == 200
        )
        assert (
            httpx.get(
                proc.url + "/echo", headers={"traceparent": f"00-{'b' * 32}-{PARENT}-01"}
            ).status_code
            == 200
        )
        deadline = time.monotonic() + HANG_S
        while time.monotonic() < deadline and not any(
            s.trace_id.hex() == "b" * 32 for _, s in collector.spans
        ):
            time.sleep(0.05)
        assert any(s.trace_id.hex() == "b" * 32 for _, s in collector.spans)
        assert not any(s.trace_id.hex() == trace for _, s in collector.spans)
    finally:
        proc.terminate()


def test_dead_collector_drops_spans_not_requests(app: RecordingApp) -> None:
    with refused_port() as port:
        _dead_collector_drops_spans(app, port)


def _dead_collector_drops_spans(app: RecordingApp, port: int) -> None:
    env = _otel_env(f"http://127.0.0.1:{port}", OTEL_BSP_MAX_QUEUE_SIZE="16")
    proc = SidecarProcess(app.url, "--drain-timeout", "1", env=env).start()
    try:
        started = time.monotonic()
        with httpx.Client() as client:
            for _ in range(200):
                assert client.get(proc.url + "/echo").status_code == 200
        assert time.monotonic() - started < 10
        assert proc.metric("sidecar_spans_dropped_total") > 0
        assert proc.metric("sidecar_spans_queued") <= 16
    finally:
        proc.kill()  # the exporter may still be retrying; nothing to drain
