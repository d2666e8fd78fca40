"""Ingest throughput of remote_write and OTLP next to the native gRPC Push, in one run.

One real `sloengine serve` (data dir, WAL + journal with fsync) receives the same workload
three ways: S label sets (service x route x status ...) of a latency histogram with the
conventions' 12 buckets, scraped T times. Each way is measured on its own, in turn:

- native: `IngestService/Push`, one stream, a batch = one scrape of every label set
  (S blocks x 1 sample: requests, errors, latency counts), up to 8 batches in flight;
- remote_write: what Prometheus sends for those scrapes: 13 bucket samples per label set,
  cumulative, `--per-request` samples per request (Prometheus' max_samples_per_send),
  `--shards` requests in flight;
- OTLP/gRPC: `MetricsService/Export`, one request per scrape holding S cumulative histogram
  data points, `--shards` in flight.

The unit compared is the RED observation (one label set at one timestamp: its requests,
errors and latency), what the engine stores; wire samples/s is shown too. Ratios are
against native, measured in the same run, so machine load cancels out.

    .venv/bin/python bench/bench_pipelines.py [--quick] [--runs 3]
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
from pathlib import Path

import aiohttp
import cramjam
import grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms
from opentelemetry.proto.metrics.v1 import metrics_pb2 as m

from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS as BOUNDS
from sloengine.proto.prometheus import remote_pb2
from sloengine.proto.sloengine.v1 import engine_pb2 as pb

_SERVING = re.compile(r"sloengine: serving grpc=(\S+) http=(\S+)")
SPECS = Path(__file__).parents[1] / "examples" / "slos"
_LES = [f"{b:g}" for b in BOUNDS] + ["+Inf"]


def label_sets(n: int, tag: str) -> list[dict[str, str]]:
    return [
        {"service": f"svc-{tag}-{i % 50}", "variant": "canary", "route": f"/r/{i // 50}",
         "method": "GET", "status": "500" if i % 10 == 0 else "200", "revision": "r1"}
        for i in range(n)
    ]  # fmt: skip


def counts(i: int, scrape: int) -> list[int]:
    """Cumulative bucket counts of label set i after `scrape` scrapes (13 values, +Inf last)."""
    per = [((i + j) % 3) for j in range(len(BOUNDS))]  # non-cumulative per scrape
    out, running = [], 0
    for p in per:
        running += p
        out.append(running * scrape)
    out.append((running + 1) * scrape)
    return out


# --- native ---------------------------------------------------------------------------------
def native_batches(sets: list[dict[str, str]], scrapes: int, t0_ms: int) -> list[bytes]:
    out = []
    for s in range(1, scrapes + 1):
        req = pb.PushRequest(producer_id="bench-native", sequence=s)
        for i, labels in enumerate(sets):
            c = counts(i, 1)
            lat = [c[0]] + [c[j] - c[j - 1] for j in range(1, len(BOUNDS))]
            block = req.blocks.add(
                timestamps_unix_ms=[t0_ms + s * 1000], requests=[c[-1]],
                errors=[c[-1] if labels["status"] == "500" else 0],
                latency_bounds_seconds=BOUNDS, latency_bucket_counts=lat,
            )  # fmt: skip
            block.key.service, block.key.variant = labels["service"], labels["variant"]
            block.key.route, block.key.method = labels["route"], labels["method"]
            block.key.extra_labels["revision"] = labels["revision"]
        out.append(req.SerializeToString())
    return out


async def run_native(address: str, batches: list[bytes]) -> None:
    async with grpc.aio.insecure_channel(address) as ch:
        call = ch.stream_stream(
            "/sloengine.v1.IngestService/Push",
            request_serializer=lambda b: b,
            response_deserializer=pb.PushAck.FromString,
        )()
        window = asyncio.Semaphore(8)

        async def write() -> None:
            for b in batches:
                await window.acquire()
                await call.write(b)
            await call.done_writing()

        writer = asyncio.create_task(write())
        async for ack in call:
            assert ack.status == pb.PushAck.ACCEPTED, ack
            window.release()
        await writer


# --- remote_write -----------------------------------------------------------------------------
def rw_requests(sets: list[dict[str, str]], scrapes: int, t0_ms: int, per: int) -> list[bytes]:
    samples = []
    for s in range(1, scrapes + 1):
        for i, labels in enumerate(sets):
            for le, v in zip(_LES, counts(i, s), strict=True):
                samples.append((labels, le, t0_ms + s * 1000, float(v)))
    out = []
    for k in range(0, len(samples), per):
        req = remote_pb2.WriteRequest()
        for labels, le, ts, v in samples[k : k + per]:
            series = req.timeseries.add()
            series.labels.add(name="__name__", value="http_request_duration_seconds_bucket")
            for name in sorted({**labels, "le": le}):
                series.labels.add(name=name, value={**labels, "le": le}[name])
            series.samples.add(value=v, timestamp=ts)
        out.append(bytes(cramjam.snappy.compress_raw(req.SerializeToString())))
    return out


async def run_rw(url: str, shards: list[list[bytes]]) -> None:
    headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"}
    async with aiohttp.ClientSession() as session:

        async def shard(bodies: list[bytes]) -> None:
            for body in bodies:  # in order: Prometheus shards by series
                async with session.post(url, data=body, headers=headers) as r:
                    assert r.status == 204, await r.text()

        await asyncio.gather(*(shard(b) for b in shards))


# --- OTLP ---------------------------------------------------------------------------------------
def otlp_requests(sets: list[dict[str, str]], scrapes: int, t0_ms: int) -> list[bytes]:
    out = []
    for s in range(1, scrapes + 1):
        req = ms.ExportMetricsServiceRequest()
        by_service: dict[str, list[int]] = {}
        for i, labels in enumerate(sets):
            by_service.setdefault(labels["service"], []).append(i)
        for service, members in by_service.items():
            rm = req.resource_metrics.add()
            for k, v in (("service.name", service), ("sloengine.variant", "canary"),
                         ("service.version", "r1")):  # fmt: skip
                rm.resource.attributes.add(key=k).value.string_value = v
            metric = rm.scope_metrics.add().metrics.add(
                name="http.server.request.duration", unit="s"
            )
            metric.histogram.aggregation_temporality = m.AGGREGATION_TEMPORALITY_CUMULATIVE
            for i in members:
                labels, c = sets[i], counts(i, s)
                dp = metric.histogram.data_points.add(
                    start_time_unix_nano=t0_ms * 1_000_000,
                    time_unix_nano=(t0_ms + s * 1000) * 1_000_000,
                    count=c[-1], explicit_bounds=BOUNDS,
                    bucket_counts=[c[0]] + [c[j] - c[j - 1] for j in range(1, len(c))],
                )  # fmt: skip
                for k, v in (("http.route", labels["route"]), ("http.request.method", "GET")):
                    dp.attributes.add(key=k).value.string_value = v
                dp.attributes.add(key="http.response.status_code").value.int_value = int(
                    labels["status"]
                )
        out.append(req.SerializeToString())
    return out


async def run_otlp(address: str, shards: list[list[bytes]]) -> None:
    async with grpc.aio.insecure_channel(address) as ch:
        export = ch.unary_unary(
            "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
            request_serializer=lambda b: b,
            response_deserializer=ms.ExportMetricsServiceResponse.FromString,
        )

        async def exporter(bodies: list[bytes]) -> None:
            for body in bodies:  # one SDK exporter: its exports in order
                resp = await export(body)
                assert not resp.partial_success.rejected_data_points, resp

        await asyncio.gather(*(exporter(b) for b in shards))


# --- driver ---------------------------------------------------------------------------------------
def start_engine(data: Path) -> tuple[subprocess.Popen[str], str, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sloengine", "serve", "--grpc-listen", "127.0.0.1:0",
         "--http-listen", "127.0.0.1:0", "--data-dir", str(data), "--specs", str(SPECS)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    while line := proc.stdout.readline():
        if match := _SERVING.search(line):
            return proc, match.group(1), match.group(2)
    raise SystemExit("engine did not start")


async def measure(args: argparse.Namespace) -> dict[str, float]:
    """Observations/s of each protocol in one engine (fresh label sets per protocol)."""
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        proc, grpc_addr, http_addr = start_engine(Path(tmp) / "data")
        try:
            t0 = int(time.time() * 1000) - (args.scrapes + 10) * 1000
            observations = args.series * args.scrapes
            k = args.shards  # each shard (or exporter) sends its own label sets, in order
            rw_sets, otlp_sets = label_sets(args.series, "rw"), label_sets(args.series, "o")
            native = native_batches(label_sets(args.series, "n"), args.scrapes, t0)
            rw = [rw_requests(rw_sets[i::k], args.scrapes, t0, args.per_request) for i in range(k)]
            otlp = [otlp_requests(otlp_sets[i::k], args.scrapes, t0) for i in range(k)]
            for name in ("native", "remote_write", "otlp"):
                started = time.perf_counter()
                if name == "native":
                    await run_native(grpc_addr, native)
                elif name == "remote_write":
                    await run_rw(f"http://{http_addr}/api/v1/write", rw)
                else:
                    await run_otlp(grpc_addr, otlp)
                rates[name] = observations / (time.perf_counter() - started)
        finally:
            proc.terminate()
            proc.wait(30)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small workload, one run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--per-request", type=int, default=2000)
    parser.add_argument("--shards", type=int, default=4)
    args = parser.parse_args()
    if args.quick:
        args.runs, args.series, args.scrapes = 1, 200, 5
    runs = [asyncio.run(measure(args)) for _ in range(args.runs)]
    wire = {"native": 1, "remote_write": len(_LES), "otlp": 1}
    print(f"{args.series} label sets x {args.scrapes} scrapes, {args.runs} run(s), medians:")
    native = statistics.median(r["native"] for r in runs)
    for name in ("native", "remote_write", "otlp"):
        rate = statistics.median(r[name] for r in runs)
        print(
            f"  {name:13s} {rate:10,.0f} observations/s  {rate * wire[name]:11,.0f} wire samples/s"
            f"  ratio to native {rate / native:5.2f}"
        )


if __name__ == "__main__":
    main()
