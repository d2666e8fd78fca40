"""The scale-out shape on loopback: remote_write -> VictoriaMetrics <- three stateless
engines in pull mode; every engine's verdict equals the embedded engine's for the same
traffic, to the last field."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from google.protobuf.json_format import MessageToDict
from prometheus_client import CollectorRegistry

from sloengine.app import EngineApp
from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS as BOUNDS
from sloengine.model import Catalog
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from sloengine.settings.config import EngineConfig
from tests.pipelines.rw import HEADERS, histogram_scrape, write_request
from tests.support.victoriametrics import VictoriaMetricsServer

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

SCRAPES = 60
STEP_MS = 10_000


def traffic(now_ms: int) -> list[bytes]:
    """Two services; `pay`'s canary fails 8% of requests and is slow, `cart`'s is healthy."""
    bodies = []
    start = now_ms - SCRAPES * STEP_MS
    for i in range(1, SCRAPES + 1):
        samples: list[Any] = []
        for service, bad_canary in (("pay", True), ("cart", False)):
            for variant in ("stable", "canary"):
                bad = bad_canary and variant == "canary"
                for status, per_scrape in (("200", 100), ("503", 8 if bad else 0)):
                    total = per_scrape * i
                    slow = total // 4 if bad else total // 50
                    les = [(f"{b:g}", total - slow if b <= 1.0 else total) for b in BOUNDS]
                    labels = {"service": service, "variant": variant, "route": "/x",
                              "method": "GET", "status": status}  # fmt: skip
                    samples += histogram_scrape(
                        labels, start + i * STEP_MS, [*les, ("+Inf", total)]
                    )
        bodies.append(write_request(samples))
    return bodies


async def start(tmp: Path, name: str, **config: Any) -> EngineApp:
    app = EngineApp(
        EngineConfig(grpc_listen="127.0.0.1:0", http_listen="127.0.0.1:0",
                     data_dir=tmp / name, snapshot_interval_seconds=0, **config),
        registry=CollectorRegistry(), catalog=Catalog(slos=()), plugins=("sloengine.canary",),
    )  # fmt: skip
    await app.start()
    return app


async def verdict(app: EngineApp, service: str, at: float) -> dict[str, Any]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as ch:
        request = pb.GetVerdictRequest(service=service, canary_variant="canary",
                                       baseline_variant="stable", short_window_seconds=120,
                                       long_window_seconds=540)  # fmt: skip
        request.eval_time.FromMilliseconds(int(at * 1000))
        msg = await pb_grpc.CanaryServiceStub(ch).GetVerdict(request)
    return MessageToDict(msg)


async def test_three_pull_engines_give_the_embedded_engines_verdicts(tmp_path: Path) -> None:
    with VictoriaMetricsServer(tmp_path / "vm") as vm:
        pushed = await start(tmp_path, "push")
        pulled = [
            await start(tmp_path, f"pull{i}", prometheus_url=vm.url,
                        raw={"pipelines": {"verdict_source": "prometheus"}})
            for i in range(3)
        ]  # fmt: skip
        try:
            now_ms = int(time.time() * 1000)
            targets = [
                f"http://127.0.0.1:{pushed.http_port}/api/v1/write",
                f"{vm.url}/api/v1/write",
            ]
            async with aiohttp.ClientSession() as session:
                for body in traffic(now_ms):
                    for url in targets:
                        async with session.post(url, data=body, headers=HEADERS) as r:
                            assert r.status in (200, 204), await r.text()
            urllib.request.urlopen(f"{vm.url}/internal/force_flush").close()
            at = now_ms / 1000 + 1
            seen = {}
            for service in ("pay", "cart"):
                embedded = await verdict(pushed, service, at)
                for app in pulled:
                    assert await verdict(app, service, at) == embedded, service
                seen[service] = embedded["verdict"]
            assert seen == {"pay": "FAIL", "cart": "PASS"}
        finally:
            for app in (pushed, *pulled):
                await app.stop(0)
