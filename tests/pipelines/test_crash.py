"""kill -9 while Prometheus-style requests flow: after a restart and the sender's retries,
the engine holds exactly the served totals (the journal and the store agree)."""

from __future__ import annotations

import random
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest

from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS as BOUNDS
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from tests.pipelines.rw import HEADERS, histogram_scrape, write_request
from tests.server.engine_process import EngineProcess

pytestmark = pytest.mark.integration

SPECS = Path(__file__).parents[2] / "examples" / "slos"
LABELS = {"service": "docs-api", "variant": "canary", "route": "/docs/{id}", "method": "GET",
          "status": "200", "instance": "a:1", "job": "docs"}  # fmt: skip


def body(i: int, start_ms: int) -> bytes:
    """Scrape i of a histogram serving 3 requests per scrape (one of them fast)."""
    les = [(f"{b:g}", float(i if b <= 0.1 else 3 * i)) for b in BOUNDS]
    return write_request(histogram_scrape(LABELS, start_ms + i * 1000, [*les, ("+Inf", 3.0 * i)]))


class Sender:
    """Sends scrapes in order, each until acked (as Prometheus' queue does), in a thread."""

    def __init__(self, start_ms: int, last: int) -> None:
        self.start_ms, self.last = start_ms, last
        self.next = 1
        self.url = ""
        self.stop = threading.Event()

    def run(self) -> None:
        while self.next <= self.last and not self.stop.is_set():
            req = urllib.request.Request(self.url, data=body(self.next, self.start_ms),
                                         headers=HEADERS, method="POST")  # fmt: skip
            try:
                with urllib.request.urlopen(req, timeout=5) as resp:
                    assert resp.status == 204, resp.status
                self.next += 1
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)  # the engine is down: retry the same scrape


def requests_in_last_hour(grpc_address: str) -> float:
    with grpc.insecure_channel(grpc_address) as ch:
        resp = pb_grpc.SLOServiceStub(ch).GetStatus(
            pb.GetStatusRequest(service="docs-api", slo="requests-availability")
        )
    (status,) = resp.statuses
    return next(w.requests for w in status.windows if w.window_seconds == 3600)


@pytest.mark.parametrize("seed", [1])
def test_kill_9_mid_stream_neither_loses_nor_double_counts(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    data = tmp_path / "data"
    sender = Sender(start_ms=int(time.time() * 1000) - 3_000_000, last=400)
    engine = EngineProcess(data, SPECS).start()
    killed_at: list[int] = []
    try:
        for _ in range(2):  # two crashes, at random moments of the stream
            sender.url = f"http://{engine.http_address}/api/v1/write"
            thread = threading.Thread(target=sender.run)
            thread.start()
            # Kill at a random point of the stream, by progress (not by time: a quiet machine
            # sends all 400 scrapes within a second).
            target = sender.next + rng.randint(20, 150)
            deadline = time.monotonic() + 60
            while sender.next < target and thread.is_alive() and time.monotonic() < deadline:
                time.sleep(0.001)
            engine.kill()
            killed_at.append(sender.next)
            sender.stop.set()
            thread.join(10)
            sender.stop.clear()
            engine = EngineProcess(data, SPECS).start()
        assert killed_at[-1] <= sender.last, f"the crashes came after the stream: {killed_at}"
        sender.url = f"http://{engine.http_address}/api/v1/write"
        sender.run()  # the rest, starting with the scrape that was never acked
        assert requests_in_last_hour(engine.grpc_address) == 3.0 * sender.last, killed_at
    finally:
        engine.kill()
