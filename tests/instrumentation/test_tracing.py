"""Server, client and database spans: names by template, parentage, one span per request."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import httpx
from fastapi import FastAPI
from opentelemetry.semconv.attributes import db_attributes
from opentelemetry.trace import SpanKind, StatusCode

from instrumentation import sanitize_sql
from instrumentation._sqlite import span_name_for
from tests.instrumentation.conftest import Tracing, client_for


def _downstream() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    return app


def _caller(downstream: FastAPI, db_path: str) -> FastAPI:
    app = FastAPI()
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=downstream), base_url="http://downstream"
    )

    @app.get("/orders/{order_id}/items/{item_id}")
    async def order_item(order_id: int, item_id: int) -> dict[str, object]:
        conn = sqlite3.connect(db_path)
        conn.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER, owner TEXT)")
        conn.execute("SELECT owner FROM orders WHERE id = ? AND owner = 'bob'", (order_id,))
        conn.close()
        response = await client.get(f"/items/{item_id}", params={"token": "secret"})
        return {"downstream": response.json()}

    return app


async def test_one_server_span_per_request_named_by_route_template(
    instrumented: Callable[..., FastAPI], tracing: Tracing
) -> None:
    app = instrumented(_downstream())
    async with client_for(app) as client:
        await client.get("/items/41")
        await client.get("/items/42")
    spans = tracing.spans()
    assert [s.name for s in spans] == ["GET /items/{item_id}", "GET /items/{item_id}"]
    assert all(s.kind is SpanKind.SERVER for s in spans)
    assert spans[0].attributes is not None
    assert spans[0].attributes["http.route"] == "/items/{item_id}"
    assert spans[0].attributes["http.response.status_code"] == 200


async def test_unmatched_request_span_is_named_by_method_only(
    instrumented: Callable[..., FastAPI], tracing: Tracing
) -> None:
    app = instrumented(_downstream())
    async with client_for(app) as client:
        await client.get("/random/garbage/123")
    assert tracing.names() == ["GET"]


async def test_server_error_marks_the_span_as_error(
    instrumented: Callable[..., FastAPI], tracing: Tracing
) -> None:
    app = FastAPI()

    @app.get("/fail")
    async def fail() -> None:
        raise ValueError("nope")

    instrumented(app)
    async with client_for(app) as client:
        assert (await client.get("/fail")).status_code == 500
    (span,) = tracing.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None and span.attributes["error.type"] == "ValueError"


async def test_server_client_and_db_spans_form_one_tree(
    instrumented: Callable[..., FastAPI], tracing: Tracing, tmp_path: object
) -> None:
    downstream = instrumented(_downstream(), service="items")
    caller = instrumented(_caller(downstream, f"{tmp_path}/orders.db"), service="orders")
    async with client_for(caller) as client:
        assert (await client.get("/orders/1/items/2")).status_code == 200

    by_name = {s.name: s for s in tracing.spans()}
    assert set(by_name) == {
        "GET /orders/{order_id}/items/{item_id}",
        "CREATE orders",
        "SELECT orders",
        "GET",
        "GET /items/{item_id}",
    }
    root = by_name["GET /orders/{order_id}/items/{item_id}"]
    client_span = by_name["GET"]
    downstream_span = by_name["GET /items/{item_id}"]
    select = by_name["SELECT orders"]
    assert root.parent is None
    assert {s.context.trace_id for s in by_name.values()} == {root.context.trace_id}
    assert select.parent is not None and select.parent.span_id == root.context.span_id
    assert client_span.kind is SpanKind.CLIENT
    assert client_span.parent is not None and client_span.parent.span_id == root.context.span_id
    assert downstream_span.parent is not None
    assert downstream_span.parent.span_id == client_span.context.span_id
    assert select.attributes is not None
    assert select.attributes[db_attributes.DB_SYSTEM_NAME] == "sqlite"
    assert (
        select.attributes[db_attributes.DB_QUERY_TEXT]
        == "SELECT owner FROM orders WHERE id = ? AND owner = ?"
    )
    assert client_span.attributes is not None
    assert "secret" not in str(client_span.attributes["url.full"])


async def test_outbound_spans_belong_to_the_calling_service(
    instrumented: Callable[..., FastAPI], tmp_path: object
) -> None:
    # Each service has its own provider, as two processes would; spans must not swap.
    from tests.instrumentation.conftest import Tracing

    caller_tracing, downstream_tracing = Tracing(), Tracing()
    downstream = instrumented(
        _downstream(), service="items", tracer_provider=downstream_tracing.provider
    )
    caller = instrumented(
        _caller(downstream, f"{tmp_path}/o.db"),
        service="orders",
        tracer_provider=caller_tracing.provider,
    )
    async with client_for(caller) as client:
        await client.get("/orders/1/items/2")
    assert sorted(caller_tracing.names()) == [
        "CREATE orders",
        "GET",
        "GET /orders/{order_id}/items/{item_id}",
        "SELECT orders",
    ]
    assert downstream_tracing.names() == ["GET /items/{item_id}"]


async def test_no_outbound_spans_outside_requests(
    instrumented: Callable[..., FastAPI], tracing: Tracing, tmp_path: object
) -> None:
    instrumented(_downstream())
    conn = sqlite3.connect(f"{tmp_path}/x.db")
    conn.execute("CREATE TABLE t (a INTEGER)")
    conn.close()
    assert tracing.spans() == []


def test_sql_literals_are_sanitized_and_spans_named_operation_table() -> None:
    assert sanitize_sql("SELECT * FROM users WHERE email = 'a@b.c' AND age > 42") == (
        "SELECT * FROM users WHERE email = ? AND age > ?"
    )
    assert sanitize_sql("INSERT INTO t2 (a) VALUES ('it''s', -1.5e3, x'00ff')") == (
        "INSERT INTO t2 (a) VALUES (?, ?, ?)"
    )
    assert span_name_for("select id from docs where id = ?") == "SELECT docs"
    assert span_name_for("INSERT INTO events (title) VALUES (?)") == "INSERT events"
    assert span_name_for("UPDATE docs SET title = ?") == "UPDATE docs"
    assert span_name_for("CREATE TABLE IF NOT EXISTS docs (id INTEGER)") == "CREATE docs"
    assert span_name_for("PRAGMA journal_mode=WAL") == "PRAGMA"


async def test_sampling_ratio_zero_records_nothing_but_still_propagates(
    instrumented: Callable[..., FastAPI], tracing: Tracing
) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(0.0)))
    provider.add_span_processor(SimpleSpanProcessor(tracing.exporter))
    seen: list[str] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("traceparent", ""))
        return httpx.Response(200)

    app = FastAPI()
    echo_client = httpx.AsyncClient(transport=httpx.MockTransport(record), base_url="http://down")

    @app.get("/call")
    async def call() -> None:
        await echo_client.get("/x")

    instrumented(app, tracer_provider=provider)
    async with client_for(app) as client:
        assert (await client.get("/call")).status_code == 200
    assert tracing.spans() == []
    (traceparent,) = seen  # not sampled, yet a valid traceparent is still sent downstream
    assert int(traceparent.split("-")[3], 16) & 0x01 == 0


async def test_fastapi_native_telemetry_is_replaced_not_doubled(
    instrumented: Callable[..., FastAPI], tracing: Tracing
) -> None:
    app = FastAPI(telemetry={"tracer_provider": tracing.provider})  # native spans on

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    instrumented(app)
    async with client_for(app) as client:
        await client.get("/items/1")
    assert tracing.names() == ["GET /items/{item_id}"]
