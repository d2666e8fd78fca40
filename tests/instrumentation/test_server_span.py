"""The lean server span exports what the SDK's own span would, and obeys the same rules."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry

from instrumentation import build_tracer_provider
from instrumentation._server_span import ServerSpan
from sloengine import conventions as c
from tests.instrumentation.conftest import Tracing, client_for, sample


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/annotated/{n}")
    async def annotated(n: int) -> dict[str, int]:
        span = trace.get_current_span()
        span.set_attribute("app.n", n)
        span.set_attribute("app.bad", {"not": "allowed"})
        span.add_event("cache.miss", {"key": "k"})
        return {"n": n}

    @app.get("/crash")
    async def crash() -> None:
        raise KeyError("missing")

    return app


async def test_exported_span_carries_resource_scope_and_app_annotations(
    instrumented: Callable[..., FastAPI],
) -> None:
    exporter = InMemorySpanExporter()
    provider = build_tracer_provider(service="docs-api", variant="canary", version="2.0.1",
                                     environment="staging", env={})  # fmt: skip
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = instrumented(_app(), service="docs-api", variant="canary", tracer_provider=provider)
    async with client_for(app) as client:
        await client.get("/annotated/3")
    (span,) = exporter.get_finished_spans()
    assert isinstance(span, ServerSpan)
    resource = span.resource.attributes
    assert (resource["service.name"], resource["service.version"]) == ("docs-api", "2.0.1")
    assert (resource["deployment.environment"], resource["variant"]) == ("staging", "canary")
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == "instrumentation"
    assert span.kind is SpanKind.SERVER
    assert span.attributes is not None
    assert span.attributes["app.n"] == 3 and "app.bad" not in span.attributes
    assert [e.name for e in span.events] == ["cache.miss"]
    assert span.start_time is not None and span.end_time is not None
    assert span.start_time <= span.end_time
    assert '"name": "GET /annotated/{n}"' in span.to_json()


async def test_unhandled_exception_becomes_an_error_status_and_event(
    instrumented: Callable[..., FastAPI], tracing: Tracing
) -> None:
    app = instrumented(_app())
    async with client_for(app) as client:
        assert (await client.get("/crash")).status_code == 500
    (span,) = tracing.spans()
    assert span.status.status_code is StatusCode.ERROR
    (event,) = span.events
    assert event.name == "exception"
    assert event.attributes is not None and event.attributes["exception.type"] == "KeyError"


def test_ended_span_ignores_changes_and_ok_status_is_final() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    from instrumentation._server_span import ServerSpanFactory

    factory = ServerSpanFactory(provider.get_tracer("t"), "instrumentation", None)  # type: ignore[arg-type]
    span = factory.start_span("GET", trace.set_span_in_context(trace.INVALID_SPAN), SpanKind.SERVER)
    span.set_status(StatusCode.OK)
    span.set_status(StatusCode.ERROR, "too late")
    span.end()
    span.set_attribute("after", 1)
    span.update_name("renamed")
    span.end()
    (exported,) = exporter.get_finished_spans()
    assert exported.status.status_code is StatusCode.OK
    assert exported.name == "GET" and "after" not in (exported.attributes or {})


async def test_attribute_count_limit_from_the_environment_is_obeyed(
    instrumented: Callable[..., FastAPI], tracing: Tracing, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "2")
    app = instrumented(_app())
    async with client_for(app) as client:
        await client.get("/annotated/1")
    (span,) = tracing.spans()
    assert span.attributes is not None and len(span.attributes) == 2


async def test_a_non_sdk_tracer_provider_still_serves_and_counts(
    instrumented: Callable[..., FastAPI], registry: CollectorRegistry
) -> None:
    app = instrumented(_app(), tracer_provider=trace.NoOpTracerProvider())
    async with client_for(app) as client:
        assert (await client.get("/annotated/2")).status_code == 200
    assert sample(registry, c.HTTP_REQUESTS_TOTAL, service="svc", variant="stable",
                  route="/annotated/{n}", method="GET", status="200") == 1  # fmt: skip


async def test_response_carries_a_traceresponse_naming_the_server_span(
    instrumented: Callable[..., FastAPI], tracing: Tracing
) -> None:
    app = instrumented(_app(), service="docs-api", variant="stable")
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    async with client_for(app) as client:
        resp = await client.get(
            "/annotated/1", headers={"traceparent": f"00-{trace_id}-{parent_id}-01"}
        )
    (span,) = tracing.spans()
    expected = f"00-{trace_id}-{span.context.span_id:016x}-01"
    assert resp.headers.get_list("traceresponse") == [expected]
