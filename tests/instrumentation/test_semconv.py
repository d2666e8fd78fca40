"""Spans and metrics speak the OTel semantic conventions, by the package's own constants."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Response
from opentelemetry.semconv._incubating.attributes.db_attributes import DbSystemNameValues
from opentelemetry.semconv.attributes import (
    db_attributes,
    error_attributes,
    http_attributes,
    network_attributes,
    server_attributes,
    url_attributes,
    user_agent_attributes,
)
from opentelemetry.semconv.metrics.http_metrics import HTTP_SERVER_REQUEST_DURATION

from instrumentation import get_instrumentation, instrument, uninstrument
from instrumentation._http_attributes import split_host
from sloengine.app import EngineApp
from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS as BOUNDS
from sloengine.pipelines import OTLP_METRICS_PATH
from tests.instrumentation.conftest import Tracing, client_for
from tests.server.conftest import start_engine  # noqa: F401


def _app(db_path: str = ":memory:") -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.get("/unavailable")
    async def unavailable() -> Response:
        return Response(status_code=503)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    @app.get("/db")
    async def db() -> dict[str, int]:
        conn = sqlite3.connect(db_path)
        conn.execute("CREATE TABLE IF NOT EXISTS docs (id INTEGER, body TEXT)")
        rows = conn.execute("SELECT id FROM docs WHERE body = 'secret'").fetchall()
        conn.close()
        return {"rows": len(rows)}

    return app


def _server_span(tracing: Tracing) -> dict[str, Any]:
    (span,) = [s for s in tracing.spans() if s.kind.name == "SERVER"]
    return dict(span.attributes or {})


async def test_server_span_carries_the_required_and_recommended_http_attributes(
    instrumented: Callable[..., FastAPI], tracing: Tracing
) -> None:
    app = instrumented(_app())
    async with client_for(app) as client:
        r = await client.get("/items/7?q=x", headers={"user-agent": "probe/1.0"})
    assert r.status_code == 200
    attrs = _server_span(tracing)
    assert attrs[http_attributes.HTTP_REQUEST_METHOD] == "GET"
    assert attrs[http_attributes.HTTP_ROUTE] == "/items/{item_id}"
    assert attrs[http_attributes.HTTP_RESPONSE_STATUS_CODE] == 200
    assert attrs[url_attributes.URL_PATH] == "/items/7"  # the query is not part of the path
    assert attrs[url_attributes.URL_SCHEME] == "http"
    assert attrs[server_attributes.SERVER_ADDRESS] == "testserver"
    assert attrs[server_attributes.SERVER_PORT] == 80  # no port in Host: the scheme's
    assert attrs[network_attributes.NETWORK_PROTOCOL_VERSION] == "1.1"
    assert attrs[user_agent_attributes.USER_AGENT_ORIGINAL] == "probe/1.0"
    assert error_attributes.ERROR_TYPE not in attrs


@pytest.mark.parametrize(
    ("host", "address", "port"),
    [("api.example:8443", "api.example", 8443), ("[::1]:9000", "::1", 9000), ("[::1]", "::1", 80)],
)
async def test_server_address_and_port_come_from_the_host_header(
    instrumented: Callable[..., FastAPI], tracing: Tracing, host: str, address: str, port: int
) -> None:
    app = instrumented(_app())
    async with client_for(app) as client:
        await client.get("/items/1", headers={"host": host})
    attrs = _server_span(tracing)
    assert (attrs[server_attributes.SERVER_ADDRESS], attrs[server_attributes.SERVER_PORT]) == (
        address,
        port,
    )


async def test_5xx_response_sets_error_type_to_the_status_code(
    instrumented: Callable[..., FastAPI], tracing: Tracing
) -> None:
    app = instrumented(_app())
    async with client_for(app) as client:
        assert (await client.get("/unavailable")).status_code == 503
    assert _server_span(tracing)[error_attributes.ERROR_TYPE] == "503"


async def test_exception_sets_error_type_to_its_class(
    instrumented: Callable[..., FastAPI], tracing: Tracing
) -> None:
    app = instrumented(_app())
    async with client_for(app) as client:
        assert (await client.get("/boom")).status_code == 500
    assert _server_span(tracing)[error_attributes.ERROR_TYPE] == "RuntimeError"


async def test_4xx_has_no_error_type(
    instrumented: Callable[..., FastAPI], tracing: Tracing
) -> None:
    app = instrumented(_app())
    async with client_for(app) as client:
        assert (await client.get("/items/not-a-number")).status_code == 422
    attrs = _server_span(tracing)
    assert attrs[http_attributes.HTTP_RESPONSE_STATUS_CODE] == 422
    assert error_attributes.ERROR_TYPE not in attrs


async def test_database_spans_use_the_stable_db_names(
    instrumented: Callable[..., FastAPI], tracing: Tracing, tmp_path: Any
) -> None:
    app = instrumented(_app(str(tmp_path / "docs.db")))
    async with client_for(app) as client:
        assert (await client.get("/db")).status_code == 200
    (select,) = [s for s in tracing.spans() if s.name == "SELECT docs"]
    attrs = dict(select.attributes or {})
    assert attrs[db_attributes.DB_SYSTEM_NAME] == DbSystemNameValues.SQLITE.value
    assert attrs[db_attributes.DB_NAMESPACE] == "docs.db"
    assert attrs[db_attributes.DB_OPERATION_NAME] == "SELECT"
    assert attrs[db_attributes.DB_COLLECTION_NAME] == "docs"
    assert attrs[db_attributes.DB_QUERY_TEXT] == "SELECT id FROM docs WHERE body = ?"
    # The deprecated names are gone, not duplicated.
    assert not {"db.system", "db.statement", "db.name", "db.operation"} & set(attrs)


async def test_client_span_on_5xx_sets_error_type(
    instrumented: Callable[..., FastAPI], tracing: Tracing
) -> None:
    downstream = _app()
    caller = FastAPI()
    out = httpx.AsyncClient(transport=httpx.ASGITransport(app=downstream), base_url="http://d")

    @caller.get("/call")
    async def call() -> dict[str, int]:
        return {"status": (await out.get("/unavailable")).status_code}

    app = instrumented(caller)
    async with client_for(app) as client:
        assert (await client.get("/call")).json() == {"status": 503}
    (span,) = [s for s in tracing.spans() if s.kind.name == "CLIENT"]
    assert dict(span.attributes or {})[error_attributes.ERROR_TYPE] == "503"


@pytest.mark.parametrize(
    ("host", "want"),
    [
        ("example.com", ("example.com", None)),
        ("example.com:8080", ("example.com", 8080)),
        ("[2001:db8::1]:443", ("2001:db8::1", 443)),
        ("[2001:db8::1]", ("2001:db8::1", None)),
        ("2001:db8::1", None),  # an IPv6 literal must be bracketed
        ("example.com:0", None),
        ("example.com:65536", None),
        ("example.com:http", None),
        ("[::1", None),
        ("[::1]x", None),
        (":80", None),
        ("", None),
        ("a.example,b.example", None),  # two Host headers, joined
        ("user@a.example", None),
        ("a.example/x", None),
    ],
)
def test_split_host(host: str, want: tuple[str, int | None] | None) -> None:
    assert split_host(host) == want


# -- OTLP export of http.server.request.duration into the real engine ----------------------


@pytest.fixture
async def engine(start_engine: Any) -> EngineApp:  # noqa: F811
    app: EngineApp = await start_engine(max_future_skew_seconds=None)
    app.state.clock = time.time  # the SDK stamps points with the real clock
    app.state.max_sample_age_seconds = 3600.0
    return app


@pytest.mark.parametrize("transport", ["grpc", "http"])
async def test_otlp_request_duration_reaches_the_engine_with_exact_totals(
    engine: EngineApp, tracing: Tracing, registry: Any, transport: str
) -> None:
    endpoint = (
        f"127.0.0.1:{engine.grpc_port}"
        if transport == "grpc"
        else f"http://127.0.0.1:{engine.http_port}{OTLP_METRICS_PATH}"
    )
    app = _app()
    instr = instrument(
        app,
        service="checkout",
        variant="canary",
        revision="rev-9",
        tracer_provider=tracing.provider,
        registry=registry,
        otlp_metrics_endpoint=endpoint,
        otlp_metrics_interval_s=3600,
    )
    assert instr.otlp_metrics is not None
    served = errors = 0
    try:
        async with client_for(app) as client:
            for i in range(30):
                path = ("/items/1", "/unavailable", "/boom", "/nowhere")[i % 4]
                status = (await client.get(path)).status_code
                served += 1
                errors += status >= 500
            provider: Any = instr.otlp_metrics.meter_provider
            # The SDK exporter blocks: flush off the loop the in-process engine serves on.
            assert await asyncio.to_thread(provider.force_flush, 10_000)
            for _ in range(5):  # a second export of unchanged cumulative points adds nothing
                await client.get("/items/2")
                served += 1
            assert await asyncio.to_thread(provider.force_flush, 10_000)
    finally:
        await asyncio.to_thread(uninstrument, app)
    assert get_instrumentation(app) is None
    got = engine.state.store.window_sum(
        {"service": "checkout", "variant": "canary", "revision": "rev-9"}, 7200, time.time() + 60
    )
    assert (got.requests, got.errors) == (served, errors) == (35, 15)
    assert list(got.latency_bounds_seconds) == [float(b) for b in BOUNDS]
    assert sum(got.latency_counts) == served  # every request in some finite bucket
    assert HTTP_SERVER_REQUEST_DURATION == "http.server.request.duration"


def test_meter_provider_and_endpoint_are_exclusive() -> None:
    from opentelemetry.sdk.metrics import MeterProvider

    with pytest.raises(ValueError, match="otlp_metrics_endpoint"):
        instrument(FastAPI(), service="s", meter_provider=MeterProvider(),
                   otlp_metrics_endpoint="127.0.0.1:1")  # fmt: skip
    with pytest.raises(ValueError, match="otlp_metrics_interval_s"):
        instrument(FastAPI(), service="s", otlp_metrics_interval_s=0)
