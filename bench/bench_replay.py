"""Replay at scale: 30 days at 1-minute resolution for 100 SLOs under two policies.

50 services, each one RED series (2.16M rows of history in all) with an availability SLO
(99.9%) and a latency SLO (99% under 0.5 s); a few services have incidents so alerts fire
and resolve. Every SLO is replayed at every minute of the 30 days under the SRE Workbook
30d table and the fast/slow policy (200 replays x 43,200 steps), summaries and chart data
kept as `sloengine replay` keeps them.

Each run is a fresh process (so its peak RSS is its own): the wall time to validate the
history (`history_from_frame`) and to replay it (`run_replay` + the JSON report), the CPU
time of both (steadier than wall time on a shared machine; numpy here is single-threaded),
and the process' peak RSS (which includes building the synthetic history).
Goal: replay under 10 s and peak memory under 1 GiB.

    .venv/bin/python bench/bench_replay.py [--runs 3] [--days 30] [--services 50]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

DAY = 86400
BASE = 1_780_000_000 // DAY * DAY


def history_frame(days: int, services: int, seed: int = 7):  # type: ignore[no-untyped-def]
    """Minute rows for every service: Poisson traffic, rare errors, incidents on a few."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    minutes = days * 1440
    times = BASE + 60.0 * np.arange(1, minutes + 1)
    frames = []
    for k in range(services):
        requests = rng.poisson(600, minutes).astype(np.float64)
        error_ratio = np.full(minutes, 0.0003)
        slow_ratio = np.full(minutes, 0.003)
        if k % 10 == 0:  # an incident: 2 hours at 30x, then a day at 3x
            start = int(rng.integers(1440, minutes - 2 * 1440))
            error_ratio[start : start + 120] = 0.03
            slow_ratio[start + 600 : start + 2040] = 0.03
        errors = rng.binomial(requests.astype(np.int64), error_ratio).astype(np.float64)
        slow = rng.binomial(requests.astype(np.int64), slow_ratio).astype(np.float64)
        frames.append(
            pd.DataFrame(
                {
                    "time": times,
                    "service": f"svc-{k:02d}",
                    "variant": "stable",
                    "route": "/",
                    "requests": requests,
                    "errors": errors,
                    "le_0.5": requests - slow,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def catalog(services: int):  # type: ignore[no-untyped-def]
    from sloengine.model import SLO, Catalog, NativeSLI

    slos = []
    for k in range(services):
        selector = (("service", f"svc-{k:02d}"),)
        slos.append(SLO(f"svc-{k:02d}", "availability", 0.999, NativeSLI("availability", selector)))
        slos.append(SLO(f"svc-{k:02d}", "latency", 0.99, NativeSLI("latency", selector, 0.5)))
    return Catalog(slos=tuple(slos))


def one_run(days: int, services: int) -> dict[str, float]:
    import resource

    from sloengine.replay import ReplayOptions, history_from_frame, result_to_json, run_replay

    frame = history_frame(days, services)
    c0 = time.process_time()
    t0 = time.perf_counter()
    history = history_from_frame(frame, "bench")
    t1 = time.perf_counter()
    options = ReplayOptions(
        first_s=BASE + 60.0,
        last_s=BASE + days * DAY,
        policies=("sre-workbook-30d", "fast-slow"),
    )
    result = run_replay(catalog(services), history, options)
    report = result_to_json(result)
    t2 = time.perf_counter()
    cpu = time.process_time() - c0
    alerts = sum(len(r["alerts"]) for r in report["slos"])
    return {
        "rows": float(len(frame)),
        "replays": float(len(result.slos)),
        "alerts": float(alerts),
        "load_s": t1 - t0,
        "replay_s": t2 - t1,
        "cpu_s": cpu,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--services", type=int, default=50, help="2 SLOs each")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_run(args.days, args.services)))
        return 0
    runs = []
    for _ in range(args.runs):
        out = subprocess.run(
            [sys.executable, __file__, "--child", "--days", str(args.days),
             "--services", str(args.services)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        runs.append(json.loads(out.stdout))
    first = runs[0]
    print(
        f"replay: {first['rows']:.0f} history rows, {first['replays']:.0f} SLO replays x "
        f"{args.days * 1440} steps, {first['alerts']:.0f} alert episodes"
    )
    for key, unit in (("load_s", "s"), ("replay_s", "s"), ("cpu_s", "s"), ("peak_rss_mib", "MiB")):
        values = [r[key] for r in runs]
        print(
            f"  {key:<13} median {statistics.median(values):8.2f} {unit}"
            f"  (runs: {', '.join(f'{v:.2f}' for v in values)})"
        )
    replay = statistics.median(r["load_s"] + r["replay_s"] for r in runs)
    rss = max(r["peak_rss_mib"] for r in runs)
    ok = replay < 10 and rss < 1024
    print(f"goal (< 10 s load + replay, < 1 GiB): {'met' if ok else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
