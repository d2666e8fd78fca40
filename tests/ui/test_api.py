"""The UI's JSON API on a real in-process engine (no browser): errors, assets, no canary plugin."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from sloengine.app import PLUGINS, UI_PLUGIN, EngineApp
from sloengine.model import SLO, Catalog, EventsSLI, NativeSLI
from sloengine.settings.config import EngineConfig

pytestmark = pytest.mark.integration

T0 = 1_800_000_000.0
CATALOG = Catalog(
    slos=(
        SLO(
            service="checkout",
            name="availability",
            objective_ratio=0.99,
            sli=NativeSLI("availability", selector=(("service", "checkout"),)),
        ),
        # A PromQL SLI on an engine without --prometheus-url cannot be evaluated: its row
        # says why instead of breaking the list.
        SLO(
            service="legacy",
            name="events",
            objective_ratio=0.999,
            sli=EventsSLI(
                total_query="sum(rate(x_total[{{.window}}]))",
                error_query='sum(rate(x_total{code=~"5.."}[{{.window}}]))',
            ),
        ),
    )
)

Get = Callable[[str], Any]


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    apps: list[EngineApp] = []
    sessions: list[aiohttp.ClientSession] = []

    async def run(plugins: Sequence[str] = PLUGINS) -> Get:
        config = EngineConfig(
            grpc_listen="127.0.0.1:0",
            http_listen="127.0.0.1:0",
            data_dir=tmp_path / f"data{len(apps)}",
            snapshot_interval_seconds=0,
        )
        app = EngineApp(
            config, clock=lambda: T0, registry=CollectorRegistry(), catalog=CATALOG, plugins=plugins
        )
        await app.start()
        apps.append(app)
        session = aiohttp.ClientSession(f"http://127.0.0.1:{app.http_port}")
        sessions.append(session)

        async def get(path: str) -> tuple[int, Any, str]:
            async with session.get(path) as resp:
                body = await resp.read()
                ctype = resp.headers.get("Content-Type", "")
                data = await resp.json() if ctype.startswith("application/json") else body
                return resp.status, data, ctype

        return get

    yield run
    for session in sessions:
        await session.close()
    for app in apps:
        await app.stop(0)


async def test_page_and_assets_are_served_from_the_package(start: Callable[..., Any]) -> None:
    get = await start()
    status, body, ctype = await get("/ui/")
    assert status == 200 and ctype.startswith("text/html") and b"/ui/static/js/app.js" in body
    for asset in ("js/app.js", "js/chart.js", "js/slo-list.js", "ui.css"):
        status, _, _ = await get(f"/ui/static/{asset}")
        assert status == 200, asset


async def test_slo_list_reports_unevaluable_slos_per_row(start: Callable[..., Any]) -> None:
    get = await start()
    status, data, _ = await get("/ui/api/slos")
    assert status == 200
    rows = {(r["service"], r["name"]): r for r in data["slos"]}
    assert rows["checkout", "availability"]["state"] == "no data"
    legacy = rows["legacy", "events"]
    assert legacy["state"] == "error" and "prometheus" in legacy["error"].lower()


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/ui/api/slo?service=checkout&name=availability&range=2h", 400, "range: must be one of"),
        ("/ui/api/slo?service=checkout&name=nope", 404, "name: no SLO 'nope'"),
        ("/ui/api/slo?name=availability", 400, "service: required"),
        ("/ui/api/canary?range=1h", 400, "service: required"),
        ("/ui/api/audit?limit=abc", 400, "limit: must be an integer"),
        ("/ui/api/audit?limit=0", 400, "limit: must be in [1, 1000]"),
    ],
)
async def test_bad_parameters_name_the_parameter(
    start: Callable[..., Any], path: str, status: int, message: str
) -> None:
    get = await start()
    got, data, _ = await get(path)
    assert got == status
    assert data["error"].startswith(message)


async def test_without_the_canary_plugin_the_canary_page_is_empty(
    start: Callable[..., Any],
) -> None:
    get = await start(plugins=(UI_PLUGIN,))
    status, data, _ = await get("/ui/api/canaries")
    assert status == 200 and data == {"eval_time": T0, "plugin": False, "canaries": []}
    status, data, _ = await get("/ui/api/audit")
    assert status == 200 and data["total"] == 0 and data["verification"]["ok"]


async def test_audit_api_verifies_the_chain_the_canary_plugin_writes(
    start: Callable[..., Any],
) -> None:
    get = await start()
    status, data, _ = await get("/ui/api/audit?limit=10")
    assert status == 200
    assert data["verification"]["ok"] and data["verification"]["head_checked"]
    assert [e["action"] for e in data["entries"]] == ["config_loaded"]


async def test_detail_of_an_slo_that_cannot_be_evaluated_says_why(
    start: Callable[..., Any],
) -> None:
    get = await start()
    status, data, _ = await get("/ui/api/slo?service=legacy&name=events&range=1h")
    assert status == 200
    assert data["status"] is None and data["history"] is None
    assert "prometheus" in data["error"].lower()
    assert [t["factor"] for t in data["thresholds"]] == [14.4, 6.0, 3.0, 1.0]


async def test_canary_without_traffic_is_inconclusive_with_empty_series(
    start: Callable[..., Any],
) -> None:
    get = await start()
    status, data, _ = await get("/ui/api/canary?service=checkout&range=6h")
    assert status == 200
    assert data["current"]["verdict"] == "INCONCLUSIVE"
    assert data["served"] is None and data["timeline"] == [] and data["rollbacks"] == []
    series = data["series"]
    assert len(series["t"]) == 60 and set(series["canary_error_ratio"]) == {None}
    # Asking the UI recorded nothing: the audit log still holds only the config load.
    _, audit, _ = await get("/ui/api/audit")
    assert [e["action"] for e in audit["entries"]] == ["config_loaded"]
