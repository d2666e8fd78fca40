"""Through the engine's gRPC API: Timeslices SLOs answer in good and bad minutes, and SLOs
the pushed data cannot express are refused with a reason (FAILED_PRECONDITION), never
computed as something else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from prometheus_client import CollectorRegistry

from sloengine.app import EngineApp
from sloengine.model import SLO, Catalog, EventsSLI, NativeSLI
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from sloengine.settings.config import EngineConfig
from tests.server.conftest import T0, batch, block, push_all, status, window

SHOP = (("service", "checkout"),)
CATALOG = Catalog(
    slos=(
        SLO(
            service="checkout",
            name="minutes",
            objective_ratio=0.99,
            sli=NativeSLI("availability", SHOP),
            budgeting_method="Timeslices",
            timeslice_target_ratio=0.95,
            timeslice_window_seconds=60,
        ),
        SLO(
            service="checkout",
            name="with-429",
            objective_ratio=0.99,
            sli=NativeSLI("availability", SHOP, error_status_regex="5..|429"),
        ),
        SLO(
            service="checkout",
            name="promql-minutes",
            objective_ratio=0.99,
            sli=EventsSLI(total_query="sum(rate(x[{{.window}}]))", error_query="vector(0)"),
            budgeting_method="RatioTimeslices",
            timeslice_window_seconds=60,
        ),
    )
)


@pytest.fixture
async def channel(tmp_path: Path) -> AsyncIterator[grpc.aio.Channel]:
    config = EngineConfig(
        grpc_listen="127.0.0.1:0",
        http_listen="127.0.0.1:0",
        data_dir=tmp_path / "data",
        snapshot_interval_seconds=0,
    )
    app = EngineApp(
        config, clock=lambda: T0, registry=CollectorRegistry(), catalog=CATALOG, plugins=()
    )
    await app.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as ch:
            yield ch
    finally:
        await app.stop(0)


async def test_timeslices_status_counts_bad_minutes(channel: grpc.aio.Channel) -> None:
    # Ten minutes: 2 with 10% errors (bad), 8 with 1% (good).
    errors = (10, 10) + (1,) * 8
    ts = tuple(T0 - 60 * i for i in range(10))
    await push_all(channel, batch(1, block(ts_s=ts, requests=(100,) * 10, errors=errors)))
    st = await status(channel, slo="minutes")
    assert (window(st, 3600).requests, window(st, 3600).errors) == (60, 2)
    assert window(st, 3600).error_ratio == pytest.approx(2 / 60)
    assert st.period_error_ratio == pytest.approx(2 / 43200)
    assert st.has_data


@pytest.mark.parametrize(
    ("slo", "reason"),
    [
        ("with-429", "error status '5..|429' cannot be computed from pushed series"),
        ("promql-minutes", "RatioTimeslices over a PromQL SLI is computed by the generated"),
    ],
)
async def test_what_pushed_data_cannot_express_is_refused(
    channel: grpc.aio.Channel, slo: str, reason: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await pb_grpc.SLOServiceStub(channel).GetStatus(
            pb.GetStatusRequest(service="checkout", slo=slo)
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason in (err.value.details() or "")


async def _engine(tmp_path: Path, now: float) -> EngineApp:
    config = EngineConfig(
        grpc_listen="127.0.0.1:0",
        http_listen="127.0.0.1:0",
        data_dir=tmp_path / "data",
        snapshot_interval_seconds=0,
    )
    app = EngineApp(
        config, clock=lambda: now, registry=CollectorRegistry(), catalog=CATALOG, plugins=()
    )
    await app.start()
    return app


async def test_slices_older_than_the_stores_minute_ring_survive_a_restart(tmp_path: Path) -> None:
    app = await _engine(tmp_path, T0)
    ts = tuple(T0 - 60 * i for i in range(10))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as ch:
        errors = (10, 10) + (1,) * 8
        await push_all(ch, batch(1, block(ts_s=ts, requests=(100,) * 10, errors=errors)))
        assert window(await status(ch, slo="minutes"), 86400).errors == 2
    await app.stop(0)
    # Three hours later the store only holds those minutes in 10-minute slots: the two bad
    # minutes are known from the ledger saved at shutdown.
    later = await _engine(tmp_path, T0 + 3 * 3600)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{later.grpc_port}") as ch:
            st = await status(ch, slo="minutes")
        assert (window(st, 86400).requests, window(st, 86400).errors) == (1440, 2)
    finally:
        await later.stop(0)
