"""A whole engine (canary and UI plugins, bearer token, rollback hook in dry run) on loopback
port 0, run on its own event loop in a thread so that synchronous hypothesis tests can send
it thousands of requests; one engine per module keeps the fuzz suite fast."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, settings
from prometheus_client import CollectorRegistry

from sloengine.app import EngineApp
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from sloengine.settings.config import EngineConfig
from tests.server.conftest import CATALOG, T0

TOKEN = "fuzz-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GRPC_AUTH = (("authorization", f"Bearer {TOKEN}"),)
RAW_CONFIG: dict[str, Any] = {
    "canary": {"short_window": "5m", "long_window": "1h"},
    "hooks": {"checkout": {"command": ["true", "{service}", "{revision}"], "dry_run": True}},
}


def fuzz_settings(max_examples: int) -> settings:
    """Bounded and derandomized (the same examples on every run, in CI too).

    SLOENGINE_FUZZ_SCALE=10 multiplies the example counts; SLOENGINE_FUZZ_RANDOM=1 draws
    new examples each run: for a longer campaign by hand, not for CI.
    """
    scale = float(os.environ.get("SLOENGINE_FUZZ_SCALE", "1"))
    return settings(
        max_examples=max(1, int(max_examples * scale)),
        derandomize=os.environ.get("SLOENGINE_FUZZ_RANDOM") != "1",
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        print_blob=True,
    )


@dataclass
class RunningEngine:
    app: EngineApp
    loop: asyncio.AbstractEventLoop
    http_url: str
    grpc_target: str

    def run(self, coro: Any, timeout_s: float = 30.0) -> Any:
        """Run a coroutine on the engine's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)


def _traffic() -> list[pb.PushRequest]:
    """A few minutes of canary and baseline traffic for checkout, so verdicts do the maths."""
    out = []
    for i, variant in enumerate(("canary", "baseline", "stable")):
        block = pb.SeriesBlock(
            key=pb.SeriesKey(service="checkout", variant=variant, route="/pay", method="POST"),
            timestamps_unix_ms=[int((T0 - 60 * k) * 1000) for k in range(1, 6)],
            requests=[200.0] * 5,
            errors=[2.0 if variant != "canary" else 30.0] * 5,
            latency_bounds_seconds=[0.1, 0.5, 1.5],
            latency_bucket_counts=[150.0, 40.0, 5.0] * 5,
        )
        out.append(pb.PushRequest(producer_id="fuzz-seed", sequence=i + 1, blocks=[block]))
    return out


@pytest.fixture(scope="module")
def running_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    root: Path = tmp_path_factory.mktemp("fuzz-engine")
    token_file = root / "token"
    token_file.write_text(TOKEN)
    # Live verdicts, alerts and Flagger events append fsynced audit entries: in memory when
    # the machine has a tmpfs, the fuzzer is after crashes, not disk latency.
    shm = Path("/dev/shm")
    audit_dir = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else root
    config = EngineConfig(
        grpc_listen="127.0.0.1:0",
        http_listen="127.0.0.1:0",
        data_dir=root / "data",
        snapshot_interval_seconds=0,
        token_file=token_file,
        raw={**RAW_CONFIG, "audit": {"path": str(audit_dir / "audit.jsonl")}},
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fuzz-engine", daemon=True)
    thread.start()
    app = EngineApp(config, clock=lambda: T0, registry=CollectorRegistry(), catalog=CATALOG)
    engine = RunningEngine(app, loop, "", "")
    engine.run(app.start())
    engine.http_url = f"http://127.0.0.1:{app.http_port}"
    engine.grpc_target = f"127.0.0.1:{app.grpc_port}"
    with grpc.insecure_channel(engine.grpc_target) as channel:
        acks = list(pb_grpc.IngestServiceStub(channel).Push(iter(_traffic()), metadata=GRPC_AUTH))
    assert [a.status for a in acks] == [pb.PushAck.ACCEPTED] * 3, acks
    try:
        yield engine
    finally:
        engine.run(app.stop(0))
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        if audit_dir != root:
            shutil.rmtree(audit_dir, ignore_errors=True)
