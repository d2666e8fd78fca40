"""Pull-mode window reads against a real Prometheus: latency of what one verdict needs.

A canary verdict reads, per variant, a short and a long window (4 window sums for canary
and baseline). In pull mode those come from one range-vector query per variant and
evaluation step (`PromWindowSource.prefetch`: the whole range the first time, only the new
samples when polling forward) plus local sums. This measures that cost
against a real Prometheus (Debian package) holding one hour of remote-written scrapes of one
service: `--label-sets` histograms per variant, every 15 s. Compare with the embedded store's
`window_sum` (docs/store.md: 0.06-0.10 ms p99 at 10,000 series).

    .venv/bin/python bench/bench_pull_windows.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS as BOUNDS
from sloengine.pipelines import PromWindowSource
from tests.pipelines.rw import HEADERS, histogram_scrape, write_request
from tests.support.prometheus import PrometheusServer

STEP_MS = 15_000


async def load(url: str, label_sets: int, scrapes: int, now_ms: int) -> None:
    async with aiohttp.ClientSession() as session:
        for i in range(1, scrapes + 1):
            samples = []
            for variant in ("stable", "canary"):
                for k in range(label_sets):
                    labels = {"service": "pay", "variant": variant, "route": f"/r{k % 5}",
                              "method": "GET", "status": "503" if k % 7 == 0 else "200",
                              "instance": f"pod-{k // 5}"}  # fmt: skip
                    les = [(f"{b:g}", i * (1 if b <= 0.1 else 3)) for b in BOUNDS]
                    ts = now_ms - (scrapes - i) * STEP_MS
                    samples += histogram_scrape(labels, ts, [*les, ("+Inf", 4 * i)])
            async with session.post(url, data=write_request(samples), headers=HEADERS) as r:
                assert r.status in (200, 204), await r.text()


async def measure(prom_url: str, rounds: int, now_s: float, *, forward: bool) -> list[float]:
    """Seconds per verdict's reads: polling forward 10 s a step (incremental fetches), or
    each step from scratch (`forward=False`: what the first verdict of a canary costs)."""
    source = PromWindowSource(prom_url)
    seconds = []
    try:
        for j in range(rounds + 1):
            at = now_s - (rounds - j) * 10
            if not forward:
                source.forget()
            started = time.perf_counter()
            for variant in ("canary", "stable"):
                selector = {"service": "pay", "variant": variant}
                await source.prefetch(selector, 3600 - rounds * 10, at)
                for window in (300, 3600 - rounds * 10):
                    source.window_sum(selector, window, at)
            if j or not forward:  # the first forward step is a full fetch
                seconds.append(time.perf_counter() - started)
    finally:
        await source.aclose()
    return seconds


def _line(what: str, seconds: list[float]) -> str:
    q = statistics.quantiles(seconds, n=100) if len(seconds) > 1 else seconds * 99
    return (
        f"  {what:34s} p50 {statistics.median(seconds) * 1000:8.1f} ms  "
        f"p99 {q[98] * 1000:8.1f} ms  ({len(seconds)} evaluations)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--label-sets", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    scrapes = 40 if args.quick else 240  # 10 minutes, or one hour, of 15 s scrapes
    rounds = 10 if args.quick else args.rounds
    with tempfile.TemporaryDirectory() as tmp:
        prom = PrometheusServer(Path(tmp), extra_args=("--web.enable-remote-write-receiver",))
        with prom:
            now_ms = int(time.time() * 1000)
            asyncio.run(load(f"{prom.url}/api/v1/write", args.label_sets, scrapes, now_ms))
            forward = asyncio.run(measure(prom.url, rounds, now_ms / 1000, forward=True))
            scratch = asyncio.run(
                measure(prom.url, max(3, rounds // 5), now_ms / 1000, forward=False)
            )
    print(
        f"pull-mode reads per verdict (2 variants x 2 windows) against Prometheus; "
        f"{2 * args.label_sets} histograms, {scrapes} scrapes of 15 s:"
    )
    print(_line("polling forward (10 s steps)", forward))
    print(_line("from scratch (first verdict)", scratch))


if __name__ == "__main__":
    main()
