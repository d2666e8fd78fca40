"""Metric batches to the engine: nothing lost while the engine is down (within the bound),
nothing counted twice when it comes back, and the proxy never waits for it.

`test_engine_down_then_back_loses_no_counts` uses a small in-test IngestService (counts
per (producer, sequence), dedupes like the engine); the `sloengine serve` variant runs the
real engine when its durable store is available.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import httpx
import pytest

from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from tests.sidecar.harness import REPO, RecordingApp, SidecarProcess
from tests.support.net import free_port, refused_port

pytestmark = pytest.mark.integration


class CountingIngest(pb_grpc.IngestServiceServicer):
    """Acks every batch; counts requests and errors once per (producer_id, sequence)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: set[tuple[str, int]] = set()
        self.requests = 0.0
        self.errors = 0.0
        self.duplicates = 0

    def Push(
        self, request_iterator: Iterator[pb.PushRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.PushAck]:
        for req in request_iterator:
            key = (req.producer_id, req.sequence)
            with self.lock:
                status = pb.PushAck.DUPLICATE if key in self.seen else pb.PushAck.ACCEPTED
                if status == pb.PushAck.ACCEPTED:
                    self.seen.add(key)
                    for block in req.blocks:
                        self.requests += sum(block.requests)
                        self.errors += sum(block.errors)
                else:
                    self.duplicates += 1
            yield pb.PushAck(producer_id=req.producer_id, sequence=req.sequence, status=status)


def serve(ingest: CountingIngest, port: int) -> grpc.Server:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_IngestServiceServicer_to_server(ingest, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server


def wait_for(predicate: object, timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def send(sidecar: SidecarProcess, ok: int, failing: int) -> None:
    with httpx.Client() as client:
        for _ in range(ok):
            assert client.get(sidecar.url + "/echo").status_code == 200
        for _ in range(failing):
            assert client.get(sidecar.url + "/status/503").status_code == 503


def test_engine_down_then_back_loses_no_counts(app: RecordingApp) -> None:
    port = free_port()
    proc = SidecarProcess(
        app.url, "--engine", f"127.0.0.1:{port}", "--flush-interval", "0.2"
    ).start()
    ingest = CountingIngest()
    try:
        send(proc, 15, 5)  # engine not there yet
        assert wait_for(lambda: proc.metric("sidecar_engine_pending_batches") >= 1)
        assert proc.metric("sidecar_engine_connected") == 0
        server = serve(ingest, port)
        assert wait_for(lambda: ingest.requests == 20), ingest.requests
        assert ingest.errors == 5
        server.stop(grace=None)  # down again
        send(proc, 8, 2)
        time.sleep(0.5)
        server = serve(ingest, port)
        try:
            assert wait_for(lambda: ingest.requests == 30), ingest.requests
            assert ingest.errors == 7
            assert wait_for(lambda: proc.metric("sidecar_engine_pending_batches") == 0)
        finally:
            server.stop(grace=None)
        assert proc.metric("sidecar_engine_dropped_samples_total") == 0
    finally:
        proc.terminate()


def test_full_buffer_drops_oldest_and_counts_them(app: RecordingApp) -> None:
    with refused_port() as port:  # nothing ever listens here
        _full_buffer_drops_oldest(app, port)


def _full_buffer_drops_oldest(app: RecordingApp, port: int) -> None:
    proc = SidecarProcess(
        app.url,
        "--engine",
        f"127.0.0.1:{port}",
        "--flush-interval",
        "0.05",
        "--max-pending-batches",
        "2",
        "--drain-timeout",
        "1",
    ).start()
    try:
        for _ in range(6):
            send(proc, 2, 0)
            time.sleep(0.15)
        assert wait_for(lambda: proc.metric("sidecar_engine_dropped_samples_total") >= 2)
        assert proc.metric("sidecar_engine_pending_batches") <= 2
        started = time.monotonic()
        send(proc, 20, 0)  # the proxy is not slowed by the missing engine
        assert time.monotonic() - started < 5
    finally:
        proc.terminate()


def _real_engine_available() -> bool:
    try:
        from sloengine.store import DurableStore  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _real_engine_available(), reason="sloengine serve needs the durable store")
def test_real_engine_down_then_back_loses_no_counts(app: RecordingApp, tmp_path: Path) -> None:
    spec = tmp_path / "slo.yaml"
    spec.write_text(
        "apiVersion: sloengine/v1\nkind: ServiceSLOs\nservice: svc\nslos:\n"
        "  - name: availability\n    objective: 99.9\n    availability: {}\n"
    )
    port = free_port()
    argv = [
        sys.executable, "-m", "sloengine", "serve",
        "--grpc-listen", f"127.0.0.1:{port}", "--http-listen", "127.0.0.1:0",
        "--specs", str(spec), "--data-dir", str(tmp_path / "data"), "--grace", "1",
    ]  # fmt: skip
    proc = SidecarProcess(
        app.url, "--engine", f"127.0.0.1:{port}", "--flush-interval", "0.2"
    ).start()
    engine: subprocess.Popen[str] | None = None
    log = (tmp_path / "engine.log").open("w")

    def start_engine() -> subprocess.Popen[str]:
        started = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=log, text=True)
        assert started.stdout is not None and "serving" in started.stdout.readline()
        return started

    def period_counts() -> tuple[float, float]:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.SLOServiceStub(channel)
            status = stub.GetStatus(pb.GetStatusRequest(service="svc"), timeout=5).statuses[0]
        period = max(status.windows, key=lambda w: w.window_seconds)
        return period.requests, period.errors

    try:
        send(proc, 12, 3)  # before the engine exists
        engine = start_engine()
        assert wait_for(lambda: period_counts() == (15, 3)), period_counts()
        engine.terminate()  # down again: graceful stop, acknowledged data is durable
        engine.wait(15)
        send(proc, 4, 1)
        engine = start_engine()
        assert wait_for(lambda: period_counts() == (20, 4)), period_counts()
        assert proc.metric("sidecar_engine_dropped_samples_total") == 0
    finally:
        proc.terminate()
        if engine is not None:
            engine.terminate()
            engine.wait(15)
        log.close()
