"""The same remote_write traffic into the engine, a real Prometheus and VictoriaMetrics:
the pull-mode window source reads exactly the counts the embedded store holds."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sloengine.app import EngineApp
from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS as BOUNDS
from sloengine.pipelines import PromWindowSource
from tests.pipelines.rw import HEADERS, histogram_scrape, write_request
from tests.support.prometheus import PrometheusServer
from tests.support.victoriametrics import VictoriaMetricsServer

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

SCRAPES = 40
STEP_MS = 15_000


def traffic(now_ms: int) -> list[bytes]:
    """Scrapes of 2 variants x 2 routes x 2 statuses; a restart, a late-born series."""
    bodies = []
    start = now_ms - SCRAPES * STEP_MS
    for i in range(1, SCRAPES + 1):
        samples: list[Any] = []
        for variant in ("stable", "canary"):
            for route in ("/a", "/b"):
                for status in ("200", "503"):
                    if route == "/b" and status == "503" and i < 20:
                        continue  # this series is born half-way
                    k = i if not (variant == "canary" and route == "/a" and i >= 25) else i - 24
                    weight = 1 + (variant == "canary") + (status == "503") * 2
                    fast, total = k * weight, k * (weight + 2)
                    les = [(f"{b:g}", fast if b <= 0.25 else total - k) for b in BOUNDS]
                    labels = {"service": "pay", "variant": variant, "route": route,
                              "method": "GET", "status": status, "instance": "p:1"}  # fmt: skip
                    samples += histogram_scrape(
                        labels, start + i * STEP_MS, [*les, ("+Inf", total)]
                    )
        bodies.append(write_request(samples))
    return bodies


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[dict[str, str]]:
    prom = PrometheusServer(tmp_path / "prom", extra_args=("--web.enable-remote-write-receiver",))
    with prom, VictoriaMetricsServer(tmp_path / "vm") as vm:
        yield {"prometheus": prom.url, "victoria-metrics": vm.url}


@pytest.fixture
async def engine(start_engine: Any) -> EngineApp:
    app: EngineApp = await start_engine()
    app.state.clock = time.time
    return app


async def test_pulled_windows_equal_the_embedded_stores(
    engine: EngineApp, stores: dict[str, str]
) -> None:
    now_ms = int(time.time() * 1000)
    bodies = traffic(now_ms)
    targets = [f"http://127.0.0.1:{engine.http_port}/api/v1/write"]
    targets += [f"{url}/api/v1/write" for url in stores.values()]
    selectors = [
        {"service": "pay"},
        {"service": "pay", "variant": "canary"},
        {"service": "pay", "variant": "canary", "route": "/a"},
        {"service": "pay", "variant": "stable", "route": "/b"},
        {"service": "pay", "variant": "nope"},
    ]
    sources = {name: PromWindowSource(url) for name, url in stores.items()}
    nonzero = 0
    try:
        # Two evaluation steps, as a controller polls: the second one reads incrementally.
        for sent, upto in ((0, 30), (30, SCRAPES)):
            async with aiohttp.ClientSession() as session:
                for body in bodies[sent:upto]:
                    for url in targets:
                        async with session.post(url, data=body, headers=HEADERS) as r:
                            assert r.status in (200, 204), (url, await r.text())
            urllib.request.urlopen(f"{stores['victoria-metrics']}/internal/force_flush").close()
            at = (now_ms - (SCRAPES - upto) * STEP_MS) / 1000 + 1
            for name, source in sources.items():
                queries = source.queries
                for selector in selectors[:2]:  # the others are narrower: no query
                    await source.prefetch(selector, 900, at)
                assert source.queries == queries + 2
                for selector in selectors:
                    for window in (60, 300, 400, 900):
                        pulled = source.window_sum(selector, window, at)
                        pushed = engine.state.store.window_sum(selector, window, at)
                        assert (pulled.requests, pulled.errors, pulled.latency_counts) == (
                            pushed.requests, pushed.errors, pushed.latency_counts,
                        ), (name, upto, selector, window)  # fmt: skip
                        nonzero += pulled.requests > 0 and pulled.errors > 0
    finally:
        for source in sources.values():
            await source.aclose()
    assert nonzero >= 2 * 2 * 12  # every store and step, in most of the comparisons
