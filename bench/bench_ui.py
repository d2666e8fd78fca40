"""What one SLO-list poll of the web UI costs the engine, against GetStatus for the same SLOs.

An in-process engine (port 0) with a catalog of N native SLOs and an hour of pushed traffic
per service. Measured in the same run, medians of several rounds:

- `/ui/api/slos` uncached (after the refresh throttle, with the clock one second on, so the
  list is evaluated again) and cached (a second call right after: a dictionary lookup);
- the baseline: one `SLOService/GetStatus` per service over gRPC (every SLO of it), which
  is what a client would do to build the same table;
- the JSON's size, raw and gzip-compressed as sent.

    .venv/bin/python bench/bench_ui.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
import grpc
from prometheus_client import CollectorRegistry

from sloengine.app import EngineApp
from sloengine.model import SLO, Catalog, NativeSLI
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from sloengine.settings.config import EngineConfig

T0 = 1_800_000_000.0
SLOS_PER_SERVICE = 10


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def catalog(services: int) -> Catalog:
    slos = []
    for s in range(services):
        selector = (("service", f"svc-{s:03d}"),)
        for i in range(SLOS_PER_SERVICE):
            sli = (
                NativeSLI("latency", selector=selector, latency_threshold_seconds=0.5)
                if i % 2
                else NativeSLI("availability", selector=selector)
            )
            slos.append(
                SLO(service=f"svc-{s:03d}", name=f"slo-{i}", objective_ratio=0.999, sli=sli)
            )
    return Catalog(slos=tuple(slos))


def traffic(services: int) -> pb.PushRequest:
    blocks = []
    for s in range(services):
        block = pb.SeriesBlock(
            key=pb.SeriesKey(service=f"svc-{s:03d}", variant="stable", route="/", method="GET"),
            latency_bounds_seconds=[0.1, 0.5, 1.0],
        )
        for m in range(60):
            block.timestamps_unix_ms.append(int((T0 - m * 60) * 1000))
            block.requests.append(100.0)
            block.errors.append(float(m % 3))
            block.latency_bucket_counts.extend([80.0, 15.0, 4.0])
        blocks.append(block)
    return pb.PushRequest(producer_id="bench", sequence=1, blocks=blocks)


async def run(services: int, rounds: int) -> None:
    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        config = EngineConfig(
            grpc_listen="127.0.0.1:0",
            http_listen="127.0.0.1:0",
            data_dir=Path(tmp),
            snapshot_interval_seconds=0,
        )
        app = EngineApp(
            config, clock=clock, registry=CollectorRegistry(), catalog=catalog(services)
        )
        await app.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
                call = pb_grpc.IngestServiceStub(channel).Push()
                await call.write(traffic(services))
                await call.done_writing()
                assert [a.status async for a in call] == [pb.PushAck.ACCEPTED]
                stub = pb_grpc.SLOServiceStub(channel)
                url = f"http://127.0.0.1:{app.http_port}/ui/api/slos"
                async with aiohttp.ClientSession() as session:
                    uncached, cached, grpc_times = [], [], []
                    raw = b""
                    for _ in range(rounds):
                        # Past the list's refresh throttle (max(1 s, 4x its cost)).
                        await asyncio.sleep(1.05 + 4 * (uncached[-1] if uncached else 1.0))
                        clock.now += 1
                        started = time.perf_counter()
                        async with session.get(url) as resp:
                            raw = await resp.read()
                        uncached.append(time.perf_counter() - started)
                        started = time.perf_counter()
                        async with session.get(url) as resp:
                            await resp.read()
                        cached.append(time.perf_counter() - started)
                        started = time.perf_counter()
                        for s in range(services):
                            await stub.GetStatus(pb.GetStatusRequest(service=f"svc-{s:03d}"))
                        grpc_times.append(time.perf_counter() - started)
        finally:
            await app.stop(0)
    n = services * SLOS_PER_SERVICE
    ui, hit, base = (statistics.median(x) * 1000 for x in (uncached, cached, grpc_times))
    print(f"{n} SLOs, median of {rounds} rounds")
    print(f"  /ui/api/slos uncached  {ui:8.1f} ms   ({ui * 1000 / n:.0f} us per SLO)")
    print(f"  /ui/api/slos cached    {hit:8.1f} ms")
    print(f"  GetStatus x{services} (gRPC)  {base:8.1f} ms")
    print(f"  ratio UI list / GetStatus baseline: {ui / base:.2f}")
    print(f"  JSON {len(raw) / 1024:.0f} KiB raw, {len(gzip.compress(raw)) / 1024:.0f} KiB gzip")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 SLOs, 3 rounds")
    args = parser.parse_args()
    asyncio.run(run(10, 3) if args.quick else run(100, 7))


if __name__ == "__main__":
    main()
