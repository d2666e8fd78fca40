"""An in-process engine on loopback port 0 with a pinned clock and a two-SLO catalog."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest
from prometheus_client import CollectorRegistry

from sloengine.app import EngineApp
from sloengine.model import SLO, Catalog, NativeSLI
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from sloengine.settings.config import EngineConfig

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z, pinned "now" of every in-process engine
OBJECTIVE = 0.99

CATALOG = Catalog(
    slos=(
        SLO(
            service="checkout",
            name="availability",
            objective_ratio=OBJECTIVE,
            sli=NativeSLI("availability", selector=(("service", "checkout"),)),
            labels=(("team", "payments"),),
        ),
        SLO(
            service="checkout",
            name="latency",
            objective_ratio=OBJECTIVE,
            sli=NativeSLI(
                "latency", selector=(("service", "checkout"),), latency_threshold_seconds=0.5
            ),
            labels=(("team", "payments"),),
        ),
        SLO(
            service="search",
            name="availability",
            objective_ratio=0.999,
            sli=NativeSLI("availability", selector=(("service", "search"),)),
            labels=(("team", "search"),),
        ),
    )
)


def block(
    service: str = "checkout",
    *,
    ts_s: Sequence[float] = (T0 - 60,),
    requests: Sequence[float] = (100.0,),
    errors: Sequence[float] = (1.0,),
    variant: str = "stable",
    route: str = "/pay",
    **fields: Any,
) -> pb.SeriesBlock:
    return pb.SeriesBlock(
        key=pb.SeriesKey(service=service, variant=variant, route=route, method="POST"),
        timestamps_unix_ms=[int(t * 1000) for t in ts_s],
        requests=list(requests),
        errors=list(errors),
        **fields,
    )


def batch(sequence: int, *blocks: pb.SeriesBlock, producer: str = "test") -> pb.PushRequest:
    return pb.PushRequest(producer_id=producer, sequence=sequence, blocks=list(blocks))


EngineFactory = Callable[..., Any]


@pytest.fixture
async def start_engine(tmp_path: Path) -> AsyncIterator[EngineFactory]:
    """Start engines with config overrides; all are stopped at teardown."""
    apps: list[EngineApp] = []

    async def start(*, data_dir: Path | None = None, **overrides: Any) -> EngineApp:
        config = EngineConfig(
            grpc_listen="127.0.0.1:0",
            http_listen="127.0.0.1:0",
            data_dir=data_dir or tmp_path / "data",
            snapshot_interval_seconds=0,
        ).with_overrides(**overrides)
        app = EngineApp(
            config, clock=lambda: T0, registry=CollectorRegistry(), catalog=CATALOG, plugins=()
        )
        await app.start()
        apps.append(app)
        return app

    yield start
    for app in apps:
        await app.stop(0)


@pytest.fixture
async def engine(start_engine: EngineFactory) -> EngineApp:
    app: EngineApp = await start_engine()
    return app


@pytest.fixture
async def channel(engine: EngineApp) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{engine.grpc_port}") as ch:
        yield ch


async def push_all(
    channel: grpc.aio.Channel, *requests: pb.PushRequest, metadata: Any = None
) -> list[pb.PushAck]:
    """Send every request on one stream; the acks, ordered by sequence."""
    call = pb_grpc.IngestServiceStub(channel).Push(metadata=metadata)
    for req in requests:
        await call.write(req)
    await call.done_writing()
    acks = [ack async for ack in call]
    return sorted(acks, key=lambda a: a.sequence)


async def status(
    channel: grpc.aio.Channel, service: str = "checkout", slo: str = "availability", **kw: Any
) -> pb.SLOStatus:
    resp = await pb_grpc.SLOServiceStub(channel).GetStatus(
        pb.GetStatusRequest(service=service, slo=slo), **kw
    )
    assert len(resp.statuses) == 1
    return resp.statuses[0]


def window(st: pb.SLOStatus, seconds: int) -> pb.WindowStatus:
    return next(w for w in st.windows if w.window_seconds == seconds)
