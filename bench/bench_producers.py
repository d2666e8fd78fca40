"""Many producers: 200 concurrent Push streams, each sending one batch every 100 ms.

A real `sloengine serve` with a data dir (WAL, group commit). Each producer is one stream
sending a sidecar-shaped batch (--series series x 1 sample) every --interval seconds, the
way EngineClient flushes; the bench reports acked batches/s next to the offered rate, and
the ack latency (write to ack, measured by the producer) p50/p99. Goal: p99 <= 50 ms.

The issue's sidecar shape is 1,000 series per batch; at 200 producers every 100 ms that is
2M samples/s offered, more than one Python process on a shared 2-core machine decodes, so
the bench also runs a smaller realistic sidecar (50 series: routes x methods x variants).

    .venv/bin/python bench/bench_producers.py [--quick] [--runs 3] [--producers 200]
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
import urllib.request
from pathlib import Path

import grpc

from sloengine.proto.sloengine.v1 import engine_pb2 as pb

PUSH = "/sloengine.v1.IngestService/Push"
# Not measured: the first batches create the series (the store grows its rings), so the
# warm-up covers at least three rounds of every producer.
WARM_UP_S = 1.0
WARM_UP_ROUNDS = 3


def start_engine(data_dir: Path) -> tuple[subprocess.Popen[str], str, str]:
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "sloengine", "serve",
            "--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
            "--data-dir", str(data_dir), "--snapshot-interval", "0", "--log-level", "WARNING",
            "--max-series", "1000000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    match = re.search(r"grpc=(\S+) http=(\S+)", proc.stdout.readline())
    if not match:
        proc.kill()
        raise RuntimeError("engine did not start")
    return proc, match.group(1), match.group(2)


def server_ack_p99(http_address: str) -> float:
    """p99 of the engine's own ack latency histogram (arrival to ack, no client time),
    interpolated within its bucket like PromQL's histogram_quantile."""
    text = urllib.request.urlopen(f"http://{http_address}/metrics", timeout=10).read().decode()
    buckets = [
        (float(le), float(count))
        for le, count in re.findall(
            r'^sloengine_ingest_ack_latency_seconds_bucket\{le="([^"]+)"\} (\S+)$', text, re.M
        )
    ]
    total = buckets[-1][1]
    rank = 0.99 * total
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if upper == float("inf"):
                return lower
            return lower + (upper - lower) * (rank - below) / max(count - below, 1e-9)
        lower, below = upper, count
    return float("nan")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def batch_body(producer: int, series: int) -> bytes:
    """The blocks of one producer's batch, serialised once."""
    req = pb.PushRequest()
    now_ms = int(time.time() * 1000)
    for s in range(series):
        block = req.blocks.add()
        # Producers share series the way a fleet's replicas do (8 service x variant pairs),
        # so the store holds at most 8 x series series, not 200 x series.
        block.key.service = f"svc{producer % 4}"
        block.key.variant = "canary" if producer % 2 else "stable"
        block.key.route = f"/r{s}"
        block.key.method = "GET"
        block.timestamps_unix_ms.append(now_ms)
        block.requests.append(25.0)
        block.errors.append(1.0)
    return req.SerializeToString()


async def producer(
    address: str, index: int, series: int, interval_s: float, measure_from: float, until: float
) -> tuple[int, int, list[float]]:
    """One stream; returns (sent, acked, ack latencies in seconds) of batches sent after
    `measure_from` (the first second, with every stream connecting at once, is warm-up)."""
    body = batch_body(index, series)
    name = f"bench-producer-{index}".encode()
    head = b"\x0a" + _varint(len(name)) + name
    sent_at: dict[int, float] = {}
    latencies: list[float] = []
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.stream_stream(
            PUSH, request_serializer=None, response_deserializer=pb.PushAck.FromString
        )()

        async def read() -> None:
            while (ack := await call.read()) is not grpc.aio.EOF:
                if ack.status == pb.PushAck.ACCEPTED:
                    sent = sent_at.pop(ack.sequence)
                    if sent >= measure_from:
                        latencies.append(time.perf_counter() - sent)

        reader = asyncio.create_task(read())
        seq = measured = 0
        # Spread the producers' phases over the interval, as independent sidecars would be.
        await asyncio.sleep(interval_s * (index % 100) / 100)
        next_at = time.perf_counter()
        try:
            while next_at < until:
                seq += 1
                sent_at[seq] = time.perf_counter()
                measured += sent_at[seq] >= measure_from
                await call.write(head + b"\x10" + _varint(seq) + body)
                next_at += interval_s
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            await call.done_writing()
            await asyncio.wait_for(reader, timeout=10)
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError, TimeoutError) as exc:
            reader.cancel()
            if not isinstance(exc, TimeoutError):
                print(
                    f"  producer {index}: stream failed: {await call.code()} {await call.details()}"
                )
    return measured, len(latencies), latencies


async def run_once(
    address: str, producers: int, series: int, interval_s: float, seconds: float
) -> dict[str, float]:
    started = time.perf_counter()
    measure_from = started + max(WARM_UP_S, WARM_UP_ROUNDS * interval_s)
    until = measure_from + seconds
    results = await asyncio.gather(
        *(producer(address, i, series, interval_s, measure_from, until) for i in range(producers))
    )
    sent = sum(r[0] for r in results)
    acked = sum(len(r[2]) for r in results)
    lat = sorted(x for r in results for x in r[2])
    return {
        "offered": producers / interval_s,
        "sent_per_s": sent / seconds,
        "acked_per_s": acked / seconds,
        "acked_share": acked / max(1, sent),
        "p50": lat[len(lat) // 2] if lat else float("nan"),
        "p99": lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else float("nan"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--producers", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--shapes", default="50,1000", help="series per batch, comma-separated")
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    seconds = 3.0 if args.quick else args.seconds
    print(
        f"{args.producers} producers, one batch every {args.interval * 1e3:.0f} ms each, "
        f"{seconds:.0f} s per run, median of {runs} run(s)"
    )
    ok = True
    for series in (int(s) for s in args.shapes.split(",")):
        per_run = []
        for _ in range(runs):
            with tempfile.TemporaryDirectory(prefix="bench-producers-") as tmp:
                proc, address, http_address = start_engine(Path(tmp) / "data")
                try:
                    result = asyncio.run(
                        run_once(address, args.producers, series, args.interval, seconds)
                    )
                    result["server_p99"] = server_ack_p99(http_address)
                    per_run.append(result)
                finally:
                    proc.terminate()
                    proc.wait(30)
        m = {k: statistics.median(r[k] for r in per_run) for k in per_run[0]}
        met = m["p99"] <= 0.050 and m["acked_share"] > 0.99
        ok &= met
        print(
            f"  {series:5d} series/batch: acked {m['acked_per_s']:7.0f} batches/s of "
            f"{m['offered']:.0f} offered ({m['acked_per_s'] / m['offered']:6.1%}; client sent "
            f"{m['sent_per_s']:.0f}/s)  {m['acked_per_s'] * series / 1e3:7.1f}k samples/s  "
            f"ack p50 {m['p50'] * 1e3:6.1f} ms  p99 {m['p99'] * 1e3:6.1f} ms "
            f"(engine-side p99 {m['server_p99'] * 1e3:5.1f} ms)  "
            f"goal p99 <= 50 ms: {'met' if met else 'NOT met'}"
        )
    return 0 if ok or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
