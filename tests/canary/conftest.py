"""An engine-shaped harness: a real SeriesStore, the canary plugin on a real grpc.aio server
(port 0) and a real aiohttp server (port 0). Clock pinned to T."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from sloengine.app import register_canary
from sloengine.canary import CanaryCore, open_canary
from sloengine.engine import StoreWindows
from sloengine.ingest import decode_push
from sloengine.model import Catalog
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from sloengine.settings.config import EngineConfig
from sloengine.settings.credentials import Credentials
from sloengine.store import SeriesStore

T = 1_800_000_000.0
TOKEN = "s3cret-token"


@dataclass(eq=False)
class HarnessState:
    """What the canary service is built from: config, catalog, store, registry, clock."""

    config: EngineConfig
    catalog: Catalog
    store: SeriesStore
    registry: CollectorRegistry
    http_token: str | None
    now_s: float = T
    verdicts: dict[tuple[str, str, str], Any] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path | None:
        return self.config.data_dir

    def now(self) -> float:
        return self.now_s

    def ingest(self, request: pb.PushRequest) -> None:
        self.store.apply(
            decode_push(request, now_s=self.now_s, max_age_s=math.inf, max_future_s=math.inf)
        )


@dataclass
class Harness:
    state: HarnessState
    core: CanaryCore
    stub: pb_grpc.CanaryServiceStub
    http_url: str
    audit_path: Path


@pytest.fixture
async def harness_factory(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    cleanups: list[Callable[[], Any]] = []

    async def start(raw: dict[str, Any] | None = None, catalog: Catalog | None = None) -> Harness:
        config = EngineConfig(data_dir=tmp_path / "data", raw=raw or {})
        state = HarnessState(
            config, catalog or Catalog(slos=()), SeriesStore(), CollectorRegistry(), TOKEN
        )
        server = grpc.aio.server()
        app = web.Application()
        core = open_canary(
            config,
            catalog=state.catalog,
            windows=StoreWindows(state.store),
            now=state.now,
            registry=state.registry,
            latest=state.verdicts,
        )
        register_canary(core, server, app, Credentials.shared(state.http_token))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")

        async def stop() -> None:
            await channel.close()
            await server.stop(0)
            await runner.cleanup()

        cleanups.append(stop)
        return Harness(
            state,
            core,
            pb_grpc.CanaryServiceStub(channel),
            f"http://127.0.0.1:{runner.addresses[0][1]}",
            tmp_path / "data" / "audit.jsonl",
        )

    yield start
    for stop in reversed(cleanups):
        await stop()
