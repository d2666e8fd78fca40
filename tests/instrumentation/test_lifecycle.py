"""Idempotent, reversible and failsafe: instrumentation never breaks the host app."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from instrumentation import get_instrumentation, instrument, uninstrument
from instrumentation._failsafe import Failsafe
from instrumentation._sqlite import TracedConnection
from sloengine import conventions as c
from tests.instrumentation.conftest import Tracing, client_for, sample


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    return app


async def test_instrumenting_twice_is_a_no_op(
    instrumented: Callable[..., FastAPI], tracing: Tracing, registry: CollectorRegistry
) -> None:
    app = instrumented(_app())
    first = get_instrumentation(app)
    assert instrument(app, service="other", registry=registry) is first
    assert len(app.user_middleware) == 1
    async with client_for(app) as client:
        await client.get("/ping")
    assert tracing.names() == ["GET /ping"]
    assert sample(registry, c.HTTP_REQUESTS_TOTAL, service="svc", variant="stable",
                  route="/ping", method="GET", status="200") == 1  # fmt: skip


async def test_uninstrument_restores_the_app_httpx_and_sqlite3(
    tracing: Tracing, registry: CollectorRegistry
) -> None:
    original_connect = sqlite3.connect
    original_send = httpx.AsyncClient._send_single_request
    app = _app()
    instrument(app, service="svc", tracer_provider=tracing.provider, registry=registry)
    async with client_for(app) as client:
        await client.get("/ping")
    assert sqlite3.connect is not original_connect
    uninstrument(app)
    assert get_instrumentation(app) is None
    assert app.user_middleware == []
    assert sqlite3.connect is original_connect
    assert httpx.AsyncClient._send_single_request is original_send
    assert not isinstance(sqlite3.connect(":memory:"), TracedConnection)
    async with client_for(app) as client:
        assert (await client.get("/ping")).status_code == 200
        assert (await client.get("/metrics")).status_code == 404  # our endpoints are gone
    assert tracing.names() == ["GET /ping"]
    uninstrument(app)  # a second call is a no-op


def test_invalid_arguments_name_the_argument(registry: CollectorRegistry) -> None:
    with pytest.raises(ValueError, match=r"^variant: must be one of stable, baseline, canary"):
        instrument(_app(), service="svc", variant="blue", registry=registry)
    with pytest.raises(ValueError, match=r"^service:"):
        instrument(_app(), service=" ", registry=registry)
    with pytest.raises(ValueError, match=r"^metrics_path:"):
        instrument(_app(), service="svc", metrics_path="metrics", registry=registry)
    with pytest.raises(ValueError, match=r"^revision: must be"):
        instrument(_app(), service="svc", revision="--evil-flag", registry=registry)


def test_revision_labels_what_is_pushed_to_the_engine() -> None:
    from instrumentation._push import engine_push_from

    push = engine_push_from("127.0.0.1:1", None, "svc", "canary", "7d9c5b8f4")
    assert push is not None and push.extra_labels == {"revision": "7d9c5b8f4"}
    plain = engine_push_from("127.0.0.1:1", None, "svc", "canary")
    assert plain is not None and plain.extra_labels is None


async def test_hooks_that_raise_do_not_fail_the_request(
    instrumented: Callable[..., FastAPI], tracing: Tracing, registry: CollectorRegistry
) -> None:
    def explode(*args: Any) -> Any:
        raise RuntimeError("hook bug")

    app = instrumented(
        _app(),
        server_request_hook=explode,
        response_hook=explode,
        feature_flag_state=explode,
        data_version=explode,
    )
    async with client_for(app) as client:
        response = await client.get("/ping")
    assert response.status_code == 200 and response.json() == {"pong": "yes"}
    assert tracing.names() == ["GET /ping"]
    assert sample(registry, c.HTTP_REQUESTS_TOTAL, service="svc", variant="stable",
                  route="/ping", method="GET", status="200") == 1  # fmt: skip
    failures = get_instrumentation(app).failsafe.failures  # type: ignore[union-attr]
    assert set(failures) == {"server_request_hook", "response_hook", "feature_flag_state",
                             "data_version"}  # fmt: skip


async def test_a_broken_tracer_leaves_the_request_uninstrumented_but_served(
    instrumented: Callable[..., FastAPI],
) -> None:
    app = instrumented(_app())
    instr = get_instrumentation(app)
    assert instr is not None

    def broken_span_start(*args: Any) -> Any:
        raise RuntimeError("tracer on fire")

    instr.start_server_span = broken_span_start
    async with client_for(app) as client:
        assert (await client.get("/ping")).status_code == 200
    assert instr.failsafe.failures == {"request.start": 1}


def test_failsafe_logs_once_per_interval_and_counts_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    failsafe = Failsafe(interval_s=60.0, clock=lambda: now[0])
    with caplog.at_level("WARNING", logger="instrumentation"):
        for _ in range(5):
            failsafe.report("metrics", ValueError("x"))
        now[0] += 61
        failsafe.report("metrics", ValueError("x"))
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "(4 similar suppressed)" in messages[1]
    assert failsafe.failures == {"metrics": 6}
