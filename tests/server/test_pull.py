"""Pull mode against a real Prometheus holding backfilled, exactly linear counters."""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from prometheus_client import CollectorRegistry

from sloengine.app import EngineApp
from sloengine.model import SLO, Catalog, EventsSLI, RawSLI
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from sloengine.settings.config import EngineConfig
from tests.support.prometheus import PROMTOOL_BIN, PrometheusServer

pytestmark = pytest.mark.integration

STEP_S = 15
HISTORY_S = 2 * 3600
OK_PER_S, ERRORS_PER_S = 9.0, 1.0  # 10% errors, always
# A whole minute, 3 hours ago: inside the default retention, outside the head block.
EVAL_T = (int(time.time()) // 60) * 60 - 3 * 3600

EVENTS = SLO(
    service="pull",
    name="events",
    objective_ratio=0.99,
    sli=EventsSLI(
        error_query='sum(rate(http_requests_total{service="pull",status=~"5.."}[{{.window}}]))',
        total_query='sum(rate(http_requests_total{service="pull"}[{{.window}}]))',
    ),
)
GOOD = SLO(
    service="pull",
    name="good-events",
    objective_ratio=0.99,
    sli=EventsSLI(
        good_query='sum(rate(http_requests_total{service="pull",status="200"}[{{.window}}]))',
        total_query='sum(rate(http_requests_total{service="pull"}[{{.window}}]))',
    ),
)
RAW = SLO(
    service="pull",
    name="raw",
    objective_ratio=0.99,
    sli=RawSLI(
        'sum(rate(http_requests_total{service="pull",status=~"5.."}[{{.window}}]))'
        ' / sum(rate(http_requests_total{service="pull"}[{{.window}}]))'
    ),
)
QUIET = SLO(
    service="pull",
    name="no-traffic",
    objective_ratio=0.99,
    sli=EventsSLI(
        error_query='sum(rate(http_requests_total{service="none",status=~"5.."}[{{.window}}]))',
        total_query='sum(rate(http_requests_total{service="none"}[{{.window}}]))',
    ),
)


def _openmetrics() -> str:
    lines = ["# TYPE http_requests counter"]
    start = EVAL_T - HISTORY_S
    for t in range(start, EVAL_T + 1, STEP_S):
        elapsed = t - start
        lines.append(f'http_requests_total{{service="pull",status="200"}} {OK_PER_S * elapsed} {t}')
        lines.append(
            f'http_requests_total{{service="pull",status="503"}} {ERRORS_PER_S * elapsed} {t}'
        )
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    workdir = tmp_path_factory.mktemp("prom-pull")
    samples = workdir / "samples.om"
    samples.write_text(_openmetrics())
    subprocess.run(
        [
            PROMTOOL_BIN,
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "-q",
            str(samples),
            str(workdir / "data"),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    with PrometheusServer(workdir) as prom:
        yield prom


@pytest.fixture
async def pull_engine(prometheus: PrometheusServer, tmp_path: Path) -> AsyncIterator[EngineApp]:
    config = EngineConfig(
        grpc_listen="127.0.0.1:0",
        http_listen="127.0.0.1:0",
        data_dir=tmp_path / "data",
        prometheus_url=prometheus.url,
        snapshot_interval_seconds=0,
    )
    app = EngineApp(
        config,
        clock=lambda: float(EVAL_T),
        registry=CollectorRegistry(),
        catalog=Catalog(slos=(EVENTS, GOOD, RAW, QUIET)),
        plugins=(),
    )
    await app.start()
    yield app
    await app.stop(0)


async def _status(engine: EngineApp, name: str) -> pb.SLOStatus:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{engine.grpc_port}") as ch:
        resp = await pb_grpc.SLOServiceStub(ch).GetStatus(
            pb.GetStatusRequest(service="pull", slo=name)
        )
    return resp.statuses[0]


@pytest.mark.parametrize("name", ["events", "good-events"])
async def test_events_sli_windows_come_from_prometheus_exactly(
    pull_engine: EngineApp, name: str
) -> None:
    st = await _status(pull_engine, name)
    assert st.slo.source == "prometheus"
    assert st.has_data
    by_window = {w.window_seconds: w for w in st.windows}
    for seconds in (300, 1800, 3600):
        w = by_window[seconds]
        assert w.requests == pytest.approx((OK_PER_S + ERRORS_PER_S) * seconds, rel=1e-9)
        assert w.errors == pytest.approx(ERRORS_PER_S * seconds, rel=1e-9)
        assert w.error_ratio == pytest.approx(0.1, rel=1e-9)
        assert w.burn_rate == pytest.approx(10.0, rel=1e-9)
    # Beyond the 2h of history the ratio is still exact; the counts cover what exists.
    assert by_window[86400].error_ratio == pytest.approx(0.1, rel=1e-9)
    assert st.period_error_ratio == pytest.approx(0.1, rel=1e-9)
    assert st.error_budget_consumed_ratio == pytest.approx(10.0, rel=1e-9)
    page = [a for a in st.alerts if a.severity == "page"]
    # 10x burns below the 14.4x page but above the 6x one.
    assert [a.firing for a in page] == [a.factor < 10 for a in page]


async def test_raw_sli_gives_the_ratio_without_counts(pull_engine: EngineApp) -> None:
    st = await _status(pull_engine, "raw")
    w = next(w for w in st.windows if w.window_seconds == 300)
    assert w.error_ratio == pytest.approx(0.1, rel=1e-9)
    assert w.burn_rate == pytest.approx(10.0, rel=1e-9)
    assert st.has_data


async def test_no_traffic_is_no_data_not_nan(pull_engine: EngineApp) -> None:
    st = await _status(pull_engine, "no-traffic")
    assert not st.has_data
    assert all(w.error_ratio == 0 and not math.isnan(w.burn_rate) for w in st.windows)


async def test_unreachable_prometheus_is_unavailable(tmp_path: Path) -> None:
    from tests.support.net import refused_port

    with refused_port() as port:
        config = EngineConfig(
            grpc_listen="127.0.0.1:0",
            http_listen="127.0.0.1:0",
            data_dir=tmp_path / "data",
            prometheus_url=f"http://127.0.0.1:{port}",
            snapshot_interval_seconds=0,
        )
        app = EngineApp(
            config, registry=CollectorRegistry(), catalog=Catalog(slos=(EVENTS,)), plugins=()
        )
        await app.start()
        try:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await _status(app, "events")
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        finally:
            await app.stop(0)


async def test_promql_slo_without_prometheus_url_is_failed_precondition(tmp_path: Path) -> None:
    config = EngineConfig(
        grpc_listen="127.0.0.1:0", http_listen="127.0.0.1:0", data_dir=tmp_path / "data"
    )
    app = EngineApp(
        config, registry=CollectorRegistry(), catalog=Catalog(slos=(EVENTS,)), plugins=()
    )
    await app.start()
    try:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await _status(app, "events")
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "--prometheus-url" in (err.value.details() or "")
    finally:
        await app.stop(0)
