"""A real Prometheus scrapes a demo service and remote_writes into the engine: exact totals.

The oracle is the service's own /metrics (what it served), read after the traffic stops;
the engine must hold exactly those requests, errors and latency buckets.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from sloengine.app import EngineApp
from sloengine.model import Catalog
from sloengine.settings.config import EngineConfig
from tests.support.prometheus import PrometheusServer

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

_LISTENING = re.compile(r"listening on (http://\S+)")


@pytest.fixture
def docs_service() -> Iterator[str]:
    """The demo docs-api (canary, 20% injected errors) as a real process; its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "examples.services.docs_api", "--port", "0",
         "--variant", "canary", "--error-ratio", "0.2", "--fault-seed", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        deadline = time.monotonic() + 30
        url = None
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if m := _LISTENING.search(line):
                url = m.group(1)
            elif not line and proc.poll() is not None:
                break
        assert url, "docs-api did not start"
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def served(url: str) -> tuple[float, float, dict[float, float]]:
    """requests, 5xx and cumulative latency buckets of the service, from its /metrics."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    requests = errors = 0.0
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "http_requests_total":
                requests += s.value
                errors += s.value if s.labels["status"].startswith("5") else 0
            elif s.name == "http_request_duration_seconds_bucket":
                le = float(s.labels["le"])
                buckets[le] = buckets.get(le, 0) + s.value
    return requests, errors, buckets


async def test_prometheus_remote_write_totals_match_what_the_service_served(
    tmp_path: Path, docs_service: str
) -> None:
    config = EngineConfig(
        grpc_listen="127.0.0.1:0", http_listen="127.0.0.1:0", data_dir=tmp_path / "engine",
        snapshot_interval_seconds=0,
    )  # fmt: skip
    engine = EngineApp(config, registry=CollectorRegistry(), catalog=Catalog(slos=()), plugins=())
    await engine.start()
    try:
        host = docs_service.removeprefix("http://")
        prom = PrometheusServer(
            tmp_path / "prom",
            scrape_interval="1s",
            scrape_configs=[{"job_name": "docs", "static_configs": [{"targets": [host]}]}],
        )
        prom.add_remote_write(
            f"http://127.0.0.1:{engine.http_port}/api/v1/write",
            queue_config={"batch_send_deadline": "1s", "max_shards": 4, "min_backoff": "100ms"},
        )
        with prom:
            async with httpx.AsyncClient(base_url=docs_service, timeout=10) as client:
                for i in range(120):
                    path = "/search?q=alpha" if i % 3 else f"/docs/{i % 7}"
                    await client.get(path)
            want_requests, want_errors, want_buckets = served(docs_service)
            # Scrapes, remote_write and acks flow on: wait (bounded) until the engine has it all.
            deadline = time.monotonic() + 60
            selector = {"service": "docs-api"}
            while time.monotonic() < deadline:
                got = engine.state.store.window_sum(selector, 3600, time.time() + 60)
                if got.requests >= want_requests:
                    break
                await _sleep(0.5)
            got = engine.state.store.window_sum(selector, 3600, time.time() + 60)
        assert want_requests >= 120 and want_errors > 0
        assert (got.requests, got.errors) == (want_requests, want_errors)
        cumulative = 0.0
        for bound, count in zip(got.latency_bounds_seconds, got.latency_counts, strict=True):
            cumulative += count
            assert cumulative == want_buckets[bound], bound
        assert _metric(engine, "out_of_order") == 0
    finally:
        await engine.stop(0)


def _metric(engine: EngineApp, outcome: str) -> float:
    value = engine.state.registry.get_sample_value(
        "sloengine_pipeline_samples_total", {"protocol": "remote_write", "outcome": outcome}
    )
    return value or 0.0


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)
