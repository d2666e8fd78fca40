"""GetStatus latency over gRPC with 10,000 series in the store, next to a bare round trip.

A real `sloengine serve` holds 10,000 series of one service (pushed with 10 samples each,
spread over the last day); the SLOs select all of them (availability) or one route (a
latency SLO), the worst and the common case. The client calls GetStatus back to back on one
channel and reports p50/p99, next to grpc.health.v1.Health/Check on the same channel (the
floor: one gRPC round trip that does no work). Goal: p99 <= 2 ms.

    .venv/bin/python bench/bench_status.py [--quick] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc

SPEC = """\
apiVersion: sloengine/v1
kind: ServiceSLOs
service: bench
slos:
  - name: availability
    objective: 99.9
    availability: {}
  - name: route-latency
    objective: 99
    latency: {threshold: 0.5}
    selector: {route: /r42}
"""


def start_engine(workdir: Path) -> tuple[subprocess.Popen[str], str]:
    (workdir / "slos.yaml").write_text(SPEC)
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "sloengine", "serve",
            "--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
            "--data-dir", str(workdir / "data"), "--specs", str(workdir / "slos.yaml"),
            "--snapshot-interval", "0", "--log-level", "WARNING",
            "--max-message-bytes", str(64 * 1024 * 1024),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    match = re.search(r"grpc=(\S+)", proc.stdout.readline())
    if not match:
        proc.kill()
        raise RuntimeError("engine did not start")
    return proc, match.group(1)


async def fill(channel: grpc.aio.Channel, series: int, samples: int) -> None:
    """`series` series of service bench, `samples` samples each over the last day."""
    now_ms = int(time.time() * 1000)
    stamps = [now_ms - i * 86_400_000 // samples for i in range(samples)]
    requests = []
    per_batch = 1000
    for b, first in enumerate(range(0, series, per_batch)):
        req = pb.PushRequest(producer_id="bench-status", sequence=b + 1)
        for s in range(first, min(series, first + per_batch)):
            block = req.blocks.add()
            block.key.service = "bench"
            block.key.variant = "stable"
            block.key.route = f"/r{s}"
            block.key.method = "GET"
            block.timestamps_unix_ms.extend(stamps)
            block.requests.extend([100.0] * samples)
            block.errors.extend([1.0] * samples)
            block.latency_bounds_seconds.extend((0.1, 0.5, 1.0))
            block.latency_bucket_counts.extend([80.0, 15.0, 4.0] * samples)
        requests.append(req)
    call = pb_grpc.IngestServiceStub(channel).Push(iter(requests))
    acks = [ack async for ack in call]
    bad = [a for a in acks if a.status != pb.PushAck.ACCEPTED]
    if bad:
        raise RuntimeError(f"fill rejected: {bad[0].message}")


async def latencies(call: Callable[[], Awaitable[object]], n: int) -> list[float]:
    for _ in range(min(100, n)):  # warm-up (and the engine's view caches)
        await call()
    out = []
    for _ in range(n):
        started = time.perf_counter()
        await call()
        out.append(time.perf_counter() - started)
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_once(address: str, calls: int) -> dict[str, tuple[float, float]]:
    async with grpc.aio.insecure_channel(address) as channel:
        slo = pb_grpc.SLOServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        results = {}
        cases: dict[str, Callable[[], Awaitable[object]]] = {
            "Health/Check (floor)": lambda: health.Check(health_pb2.HealthCheckRequest()),
            "GetStatus all 10k series": lambda: slo.GetStatus(
                pb.GetStatusRequest(service="bench", slo="availability")
            ),
            "GetStatus one route": lambda: slo.GetStatus(
                pb.GetStatusRequest(service="bench", slo="route-latency")
            ),
        }
        for name, call in cases.items():
            lat = await latencies(call, calls)
            results[name] = (pct(lat, 0.5), pct(lat, 0.99))
        return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--series", type=int, default=10_000)
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    calls = 300 if args.quick else 2000
    with tempfile.TemporaryDirectory(prefix="bench-status-") as tmp:
        proc, address = start_engine(Path(tmp))
        try:

            async def prepare() -> None:
                async with grpc.aio.insecure_channel(
                    address, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
                ) as channel:
                    await fill(channel, args.series, 10)

            asyncio.run(prepare())
            per_run = [asyncio.run(run_once(address, calls)) for _ in range(runs)]
        finally:
            proc.terminate()
            proc.wait(30)
    print(
        f"GetStatus over gRPC, {args.series:,} series, {calls} calls back to back, median of {runs} run(s)"
    )
    floor_p50 = statistics.median(r["Health/Check (floor)"][0] for r in per_run)
    ok = True
    for name in per_run[0]:
        p50 = statistics.median(r[name][0] for r in per_run)
        p99 = statistics.median(r[name][1] for r in per_run)
        line = f"  {name:26s} p50 {p50 * 1e3:6.3f} ms  p99 {p99 * 1e3:6.3f} ms  p50/floor {p50 / floor_p50:5.2f}x"
        if name.startswith("GetStatus"):
            met = p99 <= 0.002
            ok &= met
            line += f"  goal p99 <= 2 ms: {'met' if met else 'NOT met'}"
        print(line)
    return 0 if ok or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
