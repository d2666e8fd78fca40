"""Optional push of RED counters to a real engine, started and stopped with the lifespan."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from instrumentation import get_instrumentation
from sloengine.app import EngineApp
from sloengine.settings.config import EngineConfig
from sloengine.specs import load_catalog
from tests.instrumentation.conftest import client_for

REPO = Path(__file__).resolve().parents[2]


async def _lifespan(app: FastAPI) -> tuple[asyncio.Task[None], Callable[[], Any]]:
    """Drive the ASGI lifespan protocol by hand: startup now, shutdown when called."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[Any] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task = asyncio.create_task(app(scope, inbox.get, outbox.put))
    assert (await outbox.get())["type"] == "lifespan.startup.complete"

    async def shutdown() -> None:
        await inbox.put({"type": "lifespan.shutdown"})
        assert (await outbox.get())["type"] == "lifespan.shutdown.complete"
        await task

    return task, shutdown


async def _wait_for_counts(
    engine: EngineApp, expected: tuple[float, float], timeout_s: float
) -> tuple[float, float]:
    """(requests, errors) of the canary gateway in the engine, once they reach `expected`
    (the client flushes every second) or the timeout passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        window = engine.state.store.window_sum(
            {"service": "gateway", "variant": "canary"}, 300, time.time() + 20
        )
        counts = (window.requests, window.errors)
        if counts == expected or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.2)


@pytest.mark.integration
async def test_red_counters_reach_the_engine(
    instrumented: Callable[..., FastAPI], tmp_path: Path
) -> None:
    engine = EngineApp(
        EngineConfig(grpc_listen="127.0.0.1:0", http_listen="127.0.0.1:0",
                     data_dir=tmp_path / "engine", snapshot_interval_seconds=0),
        registry=CollectorRegistry(),
        catalog=load_catalog([REPO / "examples" / "slos"]),
        plugins=(),
    )  # fmt: skip
    await engine.start()
    try:
        app = FastAPI()

        @app.get("/search")
        async def search() -> dict[str, str]:
            return {}

        @app.get("/fail")
        async def fail() -> None:
            raise RuntimeError("x")

        instrumented(app, service="gateway", variant="canary",
                     engine_target=f"127.0.0.1:{engine.grpc_port}")  # fmt: skip
        _, shutdown = await _lifespan(app)
        async with client_for(app) as client:
            for _ in range(5):
                await client.get("/search")
            await client.get("/fail")
        push = get_instrumentation(app).push  # type: ignore[union-attr]
        assert push is not None and push.client is not None
        counts = await _wait_for_counts(engine, expected=(6, 1), timeout_s=60)
        await shutdown()  # flushes and closes the client
        assert push.client is None
        assert counts == (6, 1)
    finally:
        await engine.stop(0)


async def test_an_unreachable_engine_never_fails_requests(
    instrumented: Callable[..., FastAPI],
) -> None:
    app = FastAPI()

    @app.get("/search")
    async def search() -> dict[str, str]:
        return {}

    instrumented(app, engine_target="127.0.0.1:9")  # nothing listens on the discard port
    _, shutdown = await _lifespan(app)
    async with client_for(app) as client:
        assert (await client.get("/search")).status_code == 200
    await asyncio.wait_for(shutdown(), timeout=15)
