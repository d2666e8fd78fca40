"""The store's own numbers, each printed next to its goal (issue 3) in the same run.

- memory per series with a 30-day window at 10,000 series (goal <= 64 KiB): ring bytes,
  and the growth of resident memory (rings, labels, index, views) / series;
- recovery time after a kill -9 with 10,000 series (goal <= 5 s): snapshot + WAL tail;
- window_sum and evaluate_slo latency at 10,000 series (goal p99 <= 2 ms);
- decode + apply throughput for 10 x 100 and 1,000 x 1 batches (goal 5M samples/s for
  the long shape): the engine's wire path (decode_wire) and the protobuf path, next to
  the floors measured in the same run (protobuf parse + copy fields out; wire scan alone).

    .venv/bin/python bench/bench_store.py [--quick] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS as BOUNDS
from sloengine.engine.evaluate import evaluate_slo
from sloengine.ingest import decode_push, decode_wire
from sloengine.ingest._wire import packed_doubles, scan_columns
from sloengine.model import SLO, NativeSLI
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.specs.policy import builtin_policy
from sloengine.store import DurableStore, SeriesStore

NOW = 1_800_000_000.0
DAY = 86400
KIB = 1024


def request(series: range, samples: int, end_s: float, step_s: float, seq: int) -> pb.PushRequest:
    """One batch: each series `samples` samples ending at end_s, step_s apart."""
    req = pb.PushRequest(producer_id="bench", sequence=seq)
    ts = [int((end_s - step_s * (samples - 1 - i)) * 1000) for i in range(samples)]
    row = [1.0] * len(BOUNDS)
    for s in series:
        block = req.blocks.add()
        block.key.service = f"svc-{s % 100}"
        block.key.variant = "canary" if s % 2 else "stable"
        block.key.route = f"/r{s // 100}"
        block.key.method = "GET"
        block.timestamps_unix_ms.extend(ts)
        block.requests.extend([20.0] * samples)
        block.errors.extend([1.0] * samples)
        block.latency_bounds_seconds.extend(BOUNDS)
        block.latency_bucket_counts.extend(row * samples)
    return req


def decode(req: pb.PushRequest):  # type: ignore[no-untyped-def]
    return decode_push(req, now_s=NOW + 60, max_age_s=31 * DAY, max_future_s=300)


def fill(store: SeriesStore, n_series: int) -> None:
    """Every series gets a sample every 6 h for 30 days (touches every ring level)."""
    seq = 0
    for start in range(0, n_series, 1000):
        for t in np.arange(NOW - 30 * DAY + 3600, NOW + 1, 6 * 3600):
            seq += 1
            store.apply(decode(request(range(start, min(start + 1000, n_series)), 1, t, 1, seq)))


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def line(name: str, value: float, unit: str, goal: float, better: str) -> None:
    ratio = goal / value if better == "lower" else value / goal
    verdict = "meets" if ratio >= 1 else "misses"
    print(f"  {name:<44} {value:>12.3f} {unit:<10} goal {goal:g} -> {ratio:.2f}x ({verdict})")


# --- memory ---------------------------------------------------------------------------------
def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def bench_memory(n_series: int) -> None:
    gc.collect()
    before = rss_bytes()
    store = SeriesStore(max_series=n_series)
    fill(store, n_series)
    for svc in range(100):  # the views a GetStatus workload creates
        store.window_sum({"service": f"svc-{svc}"}, 300, NOW)
    gc.collect()
    grown = rss_bytes() - before
    print(f"memory, 30-day window, {store.series_count()} series")
    line("ring bytes per series", store.bytes_per_series / KIB, "KiB", 64, "lower")
    line("resident memory growth / series (RSS)", grown / n_series / KIB, "KiB", 64, "lower")
    del store
    gc.collect()


# --- latency --------------------------------------------------------------------------------
def bench_latency(n_series: int, runs: int) -> None:
    store = SeriesStore(max_series=n_series)
    fill(store, n_series)
    policy = builtin_policy("sre-workbook-30d")
    slos = [
        SLO("svc-7", "availability", 0.999, NativeSLI("availability", (("service", "svc-7"),))),
        SLO(
            "svc-8",
            "latency",
            0.99,
            NativeSLI(
                "latency",
                (("service", "svc-8"), ("variant", "stable")),
                latency_threshold_seconds=0.5,
            ),
        ),
        SLO("all", "everything", 0.999, NativeSLI("availability", ())),
    ]
    for slo in slos:
        evaluate_slo(slo, policy, store, NOW)  # builds the views once
    # Interleave ingest so reads see freshly updated views, as a live engine does.
    live = decode(request(range(0, min(n_series, 1000)), 1, NOW, 1, 10**6))
    print(f"latency at {store.series_count()} series (views kept current by apply)")
    for slo in slos:
        ws: list[float] = []
        ev: list[float] = []
        ev_cpu: list[float] = []
        for i in range(200 * runs):
            if i % 10 == 0:
                store.apply(live)
            t0 = time.perf_counter()
            store.window_sum(slo.sli.selector, 3600, NOW)  # type: ignore[union-attr]
            t1 = time.perf_counter()
            c1 = time.thread_time()
            evaluate_slo(slo, policy, store, NOW)
            c2 = time.thread_time()
            t2 = time.perf_counter()
            ws.append((t1 - t0) * 1000)
            ev.append((t2 - t1) * 1000)
            ev_cpu.append((c2 - c1) * 1000)
        name = f"{slo.service}/{slo.name}"
        print(f"  window_sum {name:<28} p50 {pct(ws, 50):.3f} ms  p99 {pct(ws, 99):.3f} ms")
        line(f"evaluate_slo {name} p99 (p50 {pct(ev, 50):.3f})", pct(ev, 99), "ms", 2, "lower")
        # CPU time of this thread: the same work without the waits a shared machine adds.
        line(
            f"  same, thread CPU time p99 (p50 {pct(ev_cpu, 50):.3f})",
            pct(ev_cpu, 99),
            "ms",
            2,
            "lower",
        )


# --- throughput -----------------------------------------------------------------------------
def parse_floor(raws: list[bytes]) -> None:
    """What any decoder must do: parse, and copy each repeated field out once (arrays for
    long blocks, Python lists for one-sample blocks, whichever is cheaper)."""
    for raw in raws:
        req = pb.PushRequest.FromString(raw)
        ts: list[int] = []
        values: list[float] = []
        for b in req.blocks:
            if len(b.timestamps_unix_ms) >= 16:
                np.asarray(b.timestamps_unix_ms, dtype=np.int64)
                np.asarray(b.requests, dtype=np.float64)
                np.asarray(b.errors, dtype=np.float64)
                np.asarray(b.latency_bucket_counts, dtype=np.float64)
            else:
                ts += b.timestamps_unix_ms
                values += b.requests
                values += b.errors
                values += b.latency_bucket_counts


def wire_floor(raws: list[bytes]) -> None:
    """The same floor for the engine's wire scanner: cut the columns out, nothing else."""
    bounds = packed_doubles(BOUNDS)
    for raw in raws:
        scan_columns([raw], bounds)


def wire_apply(raws: list[bytes]) -> None:
    """What the engine runs: decode_wire (scan + validate) and apply."""
    store = SeriesStore()
    for raw in raws:
        batch = decode_wire(raw, now_s=NOW + 60, max_age_s=31 * DAY, max_future_s=300)
        assert batch is not None
        store.apply(batch)


def decode_apply(raws: list[bytes], views: bool) -> None:
    store = SeriesStore()
    if views:
        store.apply(decode(pb.PushRequest.FromString(raws[0])))
        store.window_sum({"service": "svc-1"}, 300, NOW)
        store.window_sum({"variant": "canary"}, 300, NOW)
    for raw in raws:
        store.apply(decode(pb.PushRequest.FromString(raw)))


def rate(fn: Callable[[], None], samples: int, runs: int) -> tuple[float, float]:
    """Median samples/s over `runs`: by wall clock, and by this thread's CPU time (which
    leaves out the time other processes on a shared machine take)."""
    wall, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.thread_time()
        fn()
        wall.append(samples / (time.perf_counter() - t0))
        cpu.append(samples / (time.thread_time() - c0))
    return statistics.median(wall), statistics.median(cpu)


def bench_throughput(runs: int, quick: bool) -> None:
    print("parse + decode + apply throughput (one thread), medians of runs")
    for name, n_series, samples in (("10 x 100", 10, 100), ("1000 x 1", 1000, 1)):
        batches = 100 if quick else 400
        raws = [
            request(
                range(n_series), samples, NOW - (batches - i) * samples, 1, i
            ).SerializeToString()
            for i in range(batches)
        ]
        total = batches * n_series * samples
        bare = rate(lambda r=raws: parse_floor(r), total, runs)  # type: ignore[misc]
        plain = rate(lambda r=raws: decode_apply(r, False), total, runs)  # type: ignore[misc]
        views = rate(lambda r=raws: decode_apply(r, True), total, runs)  # type: ignore[misc]
        wire_bare = rate(lambda r=raws: wire_floor(r), total, runs)  # type: ignore[misc]
        wire = rate(lambda r=raws: wire_apply(r), total, runs)  # type: ignore[misc]
        floor = max(bare[1], wire_bare[1])
        print(
            f"  {name}: floor (parse + copy fields out) {bare[0] / 1e6:.2f}M samples/s wall, "
            f"{bare[1] / 1e6:.2f}M/s CPU; wire scan alone {wire_bare[1] / 1e6:.2f}M/s CPU"
        )
        line(f"{name} decode_wire+apply, wall", wire[0] / 1e6, "M/s", 5, "higher")
        line(f"{name} decode_wire+apply, CPU time", wire[1] / 1e6, "M/s", 5, "higher")
        print(
            f"    = {wire[1] / floor:.0%} of the faster floor (CPU); protobuf path "
            f"(parse + decode_push + apply) {plain[1] / 1e6:.2f}M/s CPU, with 2 live views "
            f"{views[1] / 1e6:.2f}M/s CPU"
        )


# --- recovery -------------------------------------------------------------------------------
def _build_and_abandon(data_dir: Path, n_series: int, tail_batches: int) -> None:
    async def build() -> None:
        durable = DurableStore(data_dir, max_series=n_series)
        durable.open()
        fill(durable.store, n_series)  # history straight into memory, then snapshot it
        durable.snapshot()
        for i in range(tail_batches):  # the WAL tail a kill -9 leaves behind
            req = request(range(i * 1000 % n_series, i * 1000 % n_series + 1000), 1, NOW, 1, i)
            await durable.push(decode(req))

    asyncio.run(build())
    os._exit(0)  # no close(), no atexit: abandoned as by kill -9


def bench_recovery(n_series: int, runs: int, tail_batches: int) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-store-"))
    try:

        # Built in a child that exits without close(): the data directory a kill -9 leaves,
        # and the kernel drops the child's LOCK as it would for a killed engine.
        child = multiprocessing.get_context("fork").Process(
            target=_build_and_abandon, args=(data_dir, n_series, tail_batches)
        )
        child.start()
        child.join()
        assert child.exitcode == 0, f"building the data dir failed ({child.exitcode})"
        gc.collect()
        size = sum(p.stat().st_size for p in data_dir.iterdir()) / 2**20
        times = []
        for _ in range(runs):
            durable = DurableStore(data_dir, max_series=n_series)
            t0 = time.perf_counter()
            report = durable.open()
            times.append(time.perf_counter() - t0)
            assert report.series == n_series and report.records_replayed == tail_batches
            durable.close()
            del durable
            gc.collect()
        print(
            f"recovery: {n_series} series, snapshot + {tail_batches} WAL batches "
            f"({size:.0f} MiB on disk), median of {runs}"
        )
        line("open() after kill -9", statistics.median(times), "s", 5, "lower")
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 series, fewer runs")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    n = 1000 if args.quick else 10_000
    runs = 2 if args.quick else args.runs
    bench_memory(n)
    gc.collect()
    bench_latency(n, runs)
    gc.collect()
    bench_throughput(runs, args.quick)
    gc.collect()
    bench_recovery(n, min(runs, 3), 20 if args.quick else 200)


if __name__ == "__main__":
    main()
