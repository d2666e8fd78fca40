"""The UI's SLO list for spec features: a latency SLO whose series carry no histogram says
"no latency data"; a Timeslices SLO is evaluated (from its slice ledger), not an error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from prometheus_client import CollectorRegistry

from sloengine.app import PLUGINS, EngineApp
from sloengine.model import SLO, Catalog, NativeSLI
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.settings.config import EngineConfig
from tests.server.conftest import push_all

pytestmark = pytest.mark.integration

T0 = 1_800_000_000.0
LEGACY = (("service", "legacy"),)
CATALOG = Catalog(
    slos=(
        SLO("legacy", "latency", 0.99, NativeSLI("latency", LEGACY, latency_threshold_seconds=0.5)),
        SLO(
            "legacy",
            "minutes",
            0.99,
            NativeSLI("availability", LEGACY),
            budgeting_method="Timeslices",
            timeslice_target_ratio=0.95,
            timeslice_window_seconds=60,
        ),
    )
)


@pytest.fixture
async def rows(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    config = EngineConfig(
        grpc_listen="127.0.0.1:0",
        http_listen="127.0.0.1:0",
        data_dir=tmp_path / "data",
        snapshot_interval_seconds=0,
    )
    app = EngineApp(
        config, clock=lambda: T0, registry=CollectorRegistry(), catalog=CATALOG, plugins=PLUGINS
    )
    await app.start()
    try:
        # Ten minutes of requests without any latency histogram, 1 in 100 failing.
        block = pb.SeriesBlock(
            key=pb.SeriesKey(service="legacy", variant="stable", route="/", method="GET"),
            timestamps_unix_ms=[int((T0 - 60 * i) * 1000) for i in range(10)],
            requests=[100.0] * 10,
            errors=[1.0] * 10,
        )
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
            await push_all(channel, pb.PushRequest(producer_id="t", sequence=1, blocks=[block]))
        async with (
            aiohttp.ClientSession(f"http://127.0.0.1:{app.http_port}") as session,
            session.get("/ui/api/slos") as resp,
        ):
            assert resp.status == 200
            data = await resp.json()
        yield {r["name"]: r for r in data["slos"]}
    finally:
        await app.stop(0)


async def test_latency_without_histograms_is_no_latency_data(rows: dict[str, Any]) -> None:
    assert rows["latency"]["state"] == "no latency data"
    assert rows["latency"]["budget"] is None


async def test_timeslices_slo_is_evaluated_from_its_slices(rows: dict[str, Any]) -> None:
    minutes = rows["minutes"]
    assert minutes["state"] == "ok" and not minutes.get("error")
    assert minutes["budget"] == pytest.approx(1.0)  # ten good minutes: nothing spent
