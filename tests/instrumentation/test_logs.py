"""JSON logs: request, trace and span ids on every line; user ids only as a keyed hash."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, generate_latest

from instrumentation import JsonFormatter
from tests.instrumentation.conftest import USER_ID_KEY, Tracing, client_for

RAW_USER_ID = "alice.smith@example.com"


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(old_level)


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/docs/{id}")
    async def get_doc(id: int) -> dict[str, int]:
        logging.getLogger("app.docs").info("serving doc", extra={"doc_id": id})
        return {"id": id}

    return app


async def test_every_line_carries_request_trace_and_user_fields(
    instrumented: Callable[..., FastAPI],
    tracing: Tracing,
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    app = instrumented(_app(), service="docs-api", variant="canary", data_version="fixtures-v1")
    async with client_for(app) as client:
        response = await client.get(
            "/docs/3",
            headers={"x-request-id": "req-123", "x-user-id": RAW_USER_ID,
                     "x-feature-flags": "new-ranker=on"},
        )  # fmt: skip
    assert response.headers["x-request-id"] == "req-123"
    app_line, access_line = [line for line in log_lines() if line["logger"] != "httpx"]
    (span,) = tracing.spans()
    expected_hash = hmac.new(USER_ID_KEY.encode(), RAW_USER_ID.encode(), hashlib.sha256)
    for line in (app_line, access_line):
        assert line["request_id"] == "req-123"
        assert line["trace_id"] == format(span.context.trace_id, "032x")
        assert line["span_id"] == format(span.context.span_id, "016x")
        assert line["user_id"] == expected_hash.hexdigest()[:32]
        assert line["feature_flag_state"] == "new-ranker=on"
        assert line["data_version"] == "fixtures-v1"
        assert (line["service"], line["variant"]) == ("docs-api", "canary")
    assert app_line["message"] == "serving doc" and app_line["doc_id"] == 3
    assert access_line["logger"] == "instrumentation.access"
    assert (access_line["route"], access_line["method"], access_line["status"]) == (
        "/docs/{id}", "GET", 200,
    )  # fmt: skip
    assert access_line["duration_s"] >= 0


async def test_request_id_is_generated_when_missing_or_unsafe(
    instrumented: Callable[..., FastAPI], log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    app = instrumented(_app())
    async with client_for(app) as client:
        generated = (await client.get("/docs/1")).headers["x-request-id"]
        injected = (await client.get("/docs/1", headers={"x-request-id": "a\nb c"})).headers[
            "x-request-id"
        ]
    for request_id in (generated, injected):
        assert len(request_id) == 32 and int(request_id, 16) >= 0
    assert generated != injected


async def test_raw_user_id_appears_nowhere_in_logs_spans_or_metrics(
    instrumented: Callable[..., FastAPI],
    tracing: Tracing,
    registry: CollectorRegistry,
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    app = instrumented(_app())
    async with client_for(app) as client:
        await client.get("/docs/1", headers={"x-user-id": RAW_USER_ID})
        await client.get("/nope", headers={"x-user-id": RAW_USER_ID})
        metrics = (await client.get("/metrics")).text
    assert log_lines(), "expected log output"
    outputs = [json.dumps(log_lines()), metrics, generate_latest(registry).decode()]
    for span in tracing.spans():
        outputs.append(span.to_json())
    for output in outputs:
        assert RAW_USER_ID not in output
    (first, _) = tracing.spans()
    assert first.attributes is not None and len(str(first.attributes["user.hash"])) == 32


async def test_feature_flag_callback_wins_over_header(
    instrumented: Callable[..., FastAPI], log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    app = instrumented(
        _app(), feature_flag_state=lambda scope: "ranker=v2", data_version=lambda: "d7"
    )
    async with client_for(app) as client:
        await client.get("/docs/1", headers={"x-feature-flags": "ignored"})
    access = [line for line in log_lines() if line["logger"] == "instrumentation.access"]
    assert access[0]["feature_flag_state"] == "ranker=v2"
    assert access[0]["data_version"] == "d7"


def test_lines_outside_requests_have_no_request_fields() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "hello %s", ("you",), None)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "hello you" and line["level"] == "warning"
    assert "request_id" not in line and "trace_id" not in line
