"""`sloengine serve` as a process: address line, SIGTERM, bad config, restarts."""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from sloengine.client import EngineClient
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from tests.server.engine_process import EngineProcess
from tests.support.net import free_port

pytestmark = pytest.mark.integration

SPEC = """\
apiVersion: sloengine/v1
kind: ServiceSLOs
service: checkout
slos:
  - name: availability
    objective: 99
    availability: {}
"""


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    path = tmp_path / "slos.yaml"
    path.write_text(SPEC)
    return path


def test_serve_prints_its_ports_and_exits_zero_on_sigterm(tmp_path: Path, specs: Path) -> None:
    engine = EngineProcess(tmp_path / "data", specs).start()
    try:
        with urllib.request.urlopen(f"http://{engine.http_address}/readyz", timeout=5) as resp:
            assert resp.status == 200
        assert engine.grpc_address.startswith("127.0.0.1:")
        assert not engine.grpc_address.endswith(":0")
        # Reflection lists the plugins' services too (the canary plugin is part of the build).
        with grpc.insecure_channel(engine.grpc_address) as ch:
            stub = reflection_pb2_grpc.ServerReflectionStub(ch)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            (answer,) = stub.ServerReflectionInfo(iter([request]), timeout=10)
        names = {s.name for s in answer.list_services_response.service}
        expected = {"sloengine.v1.IngestService", "sloengine.v1.SLOService"}
        if importlib.util.find_spec("sloengine.canary"):
            expected.add("sloengine.v1.CanaryService")
        assert expected <= names
    finally:
        rc = engine.terminate()
    assert rc == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--grpc-listen", "nowhere"], "--grpc-listen: expected HOST:PORT"),
        (["--specs", "/does/not/exist.yaml"], "/does/not/exist.yaml"),
        (["--policy", "no-such-policy"], "unknown policy 'no-such-policy'"),
        (["--tls-cert", "c.pem"], "--tls-cert/--tls-key"),
    ],
    ids=["listen", "specs", "policy", "tls-half"],
)
def test_bad_config_is_one_line_and_exit_code_2(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sloengine", "serve", "--data-dir", str(tmp_path / "d"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr


def test_config_file_section_is_read(tmp_path: Path, specs: Path) -> None:
    config = tmp_path / "engine.yaml"
    config.write_text("engine:\n  max_series: 1\n  snapshot_interval: 1m\n")
    engine = EngineProcess(tmp_path / "data", specs, "--config", str(config)).start()
    try:
        with grpc.insecure_channel(engine.grpc_address) as ch:
            blocks = [
                pb.SeriesBlock(
                    key=pb.SeriesKey(service="checkout", route=f"/r{i}"),
                    timestamps_unix_ms=[int(time.time() * 1000)],
                    requests=[1],
                    errors=[0],
                )
                for i in range(2)
            ]
            acks = list(
                pb_grpc.IngestServiceStub(ch).Push(
                    iter([pb.PushRequest(producer_id="p", sequence=1, blocks=blocks)])
                )
            )
        assert acks[0].status == pb.PushAck.REJECTED
        assert acks[0].code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    finally:
        assert engine.terminate() == 0


async def test_client_resends_after_the_engine_restarts_nothing_lost_or_doubled(
    tmp_path: Path, specs: Path
) -> None:
    port = free_port()
    data = tmp_path / "data"
    engine = EngineProcess(data, specs, grpc_listen=f"127.0.0.1:{port}").start()
    # Samples 30 s old: GetStatus counts closed 10-s buckets only (the store's resolution).
    client = EngineClient(
        f"127.0.0.1:{port}",
        "restart-test",
        flush_interval_s=0.05,
        backoff_max_s=0.2,
        clock=lambda: time.time() - 30,
    )
    await client.start()
    sent = 0
    try:
        for _ in range(20):
            for status in (200, 200, 503):
                client.record("checkout", "stable", "/pay", "POST", status, 0.01)
                sent += 1
            await asyncio.sleep(0.01)
        await _until(lambda: client.stats["pending_batches"] == 0)
        engine.kill()  # kill -9: acked batches are on disk
        for _ in range(20):  # recorded while the engine is down: queued, then resent
            for status in (200, 200, 503):
                client.record("checkout", "stable", "/pay", "POST", status, 0.01)
                sent += 1
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        assert client.stats["pending_batches"] > 0
        engine = EngineProcess(data, specs, grpc_listen=f"127.0.0.1:{port}").start()
        await _until(lambda: client.stats["pending_batches"] == 0)
        assert client.stats["reconnects"] >= 1
        assert client.stats["dropped_samples"] == 0
    finally:
        await client.aclose(timeout_s=5)
    try:
        async with grpc.aio.insecure_channel(engine.grpc_address) as ch:
            resp = await pb_grpc.SLOServiceStub(ch).GetStatus(
                pb.GetStatusRequest(service="checkout", slo="availability")
            )
        five_m = next(w for w in resp.statuses[0].windows if w.window_seconds == 300)
        assert (five_m.requests, five_m.errors) == (sent, sent / 3)
    finally:
        assert engine.terminate() == 0


async def _until(predicate: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("flag", ["--grpc-listen", "--http-listen"])
def test_address_in_use_is_one_line_and_exit_code_2(tmp_path: Path, flag: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        other = "--http-listen" if flag == "--grpc-listen" else "--grpc-listen"
        proc = subprocess.run(
            [
                sys.executable, "-m", "sloengine", "serve", "--data-dir", str(tmp_path / "d"),
                flag, address, other, "127.0.0.1:0",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )  # fmt: skip
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("sloengine: ")]
    assert len(errors) == 1 and f"cannot listen on {address}" in errors[0], proc.stderr
