"""Verdict quality: the sequential dual-signal judge vs a Kayenta-style and a Flagger-style judge.

Labelled canary analyses from seeded generators (below), in families: healthy ones (noisy,
shared outages, overdispersed, a platform degraded for both, a traffic gap, low traffic,
an hour of A/A polling) and bad ones (error ratios, zero-error baselines, a slow tail with
an unchanged median, p95 up 30%, a ramp, blatant errors at 1 and 5 rps, fast failures at
50 rps during a 2-minute first step, a revision changeover). Our judge runs inside the real
engine, live: the baseline has been running for 20 min, then every 10 s of replayed time
the next 10 s sample of every analysis goes in through IngestService/Push, the engine clock
moves on, and every running analysis asks
CanaryService/GetVerdict (no eval_time: a live verdict, as a controller polling every 10 s
would get). The first FAIL ends an analysis (the controller rolls back). The two reference
judges see the very same samples:

- Kayenta-style: per-minute error ratios and p95s of the analysis so far, two-sided
  Mann-Whitney U (p < 0.05) and mean-ratio effect size >= 1.2 (NaN when the baseline mean
  is 0, as in Kayenta's EffectSizes.meanRatio; NaN never classifies as High), judged every
  minute from the third; FAIL when either metric is High.
- Flagger-style: every minute, the canary's error ratio (> 2%) and p95 (> 1.5 s) over the
  last minute; no data is a failed check ("no values found"); FAIL after 5 failed checks.

A healthy analysis with any FAIL is a false positive; a bad one without FAIL a false
negative (families under 1 rps are reported apart: the goals cover >= 1 rps).

    .venv/bin/python bench/bench_verdicts.py               # 30 analyses per family (~5 min)
    .venv/bin/python bench/bench_verdicts.py --runs 2      # a CI-sized slice
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS as BOUNDS
from sloengine.maths.judge import DEFAULT_ALPHA, histogram_quantile
from sloengine.proto.sloengine.v1 import engine_pb2 as pb

STEP_S = 10
START_S = 1_800_000_000  # replayed time, pinned
MINUTE = 60 // STEP_S
LEAD_STEPS = 20 * MINUTE  # the baseline (and revision r1) ran this long before each analysis


# --- families --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    rps: float = 20.0
    error_ratio: float = 0.005
    dispersion: float | None = None  # gamma shape of the per-sample error-rate multiplier
    median_latency_s: float = 0.35
    sigma: float = 0.5
    slow_share: float = 0.0  # requests from a slow tail (1.6-4 s), median unchanged


@dataclass(frozen=True)
class Family:
    name: str
    bad: bool  # the canary should be rolled back
    canary: Variant
    baseline: Variant
    minutes: int = 20  # analysis length
    bursts: int = 0  # shared downstream outages (both variants), 3 min at 15% errors
    outage_at_minute: int | None = None  # one such outage at this minute of the analysis
    shared_error_ratio: float = 0.0  # a degraded platform: both variants at this ratio
    gap: tuple[int, int] | None = None  # canary silent in these minutes of the analysis
    ramp_minutes: int = 0  # the canary's error ratio ramps up to its value over this
    previous: Variant | None = None  # revision r1 ran 20 min before r2 (the one judged)
    runs_factor: int = 1


HEALTHY = Variant(dispersion=2.0)
FAMILIES = (
    Family("healthy, noisy", False, HEALTHY, HEALTHY, minutes=60),
    Family("A/A, polled every 10 s for 1 h", False, Variant(), Variant(), minutes=60, runs_factor=3),
    Family("shared outages", False, Variant(), Variant(), minutes=60, bursts=3),
    Family("shared outage as the canary starts", False, Variant(), Variant(rps=180.0), outage_at_minute=1),
    Family("overdispersed canary (same mean)", False, Variant(error_ratio=0.008, dispersion=0.2), Variant(error_ratio=0.008), minutes=60),
    Family("degraded platform (both 3%)", False, Variant(), Variant(), minutes=30, shared_error_ratio=0.03),
    Family("traffic gap (10 min silent)", False, Variant(), Variant(), minutes=30, gap=(5, 15)),
    Family("revision changeover, r1 bad, r2 ok", False, Variant(), Variant(), previous=Variant(error_ratio=0.2)),
    Family("low traffic 0.3 rps, healthy", False, Variant(rps=0.3, error_ratio=0.01), Variant(error_ratio=0.01), minutes=60),
    Family("zero-error baseline, canary 5%", True, Variant(error_ratio=0.05), Variant(error_ratio=0.0)),
    Family("2x error ratio (1.5% -> 3%)", True, Variant(error_ratio=0.03), Variant(error_ratio=0.015)),
    Family("p95 +30% (1.3 s -> 1.69 s)", True, Variant(median_latency_s=0.742), Variant(median_latency_s=0.571)),
    Family("slow tail, same median (9.7% > 1.5 s)", True, Variant(slow_share=0.097), Variant(slow_share=0.001)),
    Family("error ramp 0 -> 10% over 10 min", True, Variant(error_ratio=0.10), Variant(), ramp_minutes=10),
    Family("1 rps, 20% errors", True, Variant(rps=1.0, error_ratio=0.2), Variant()),
    Family("5 rps, 20% errors (blatant)", True, Variant(rps=5.0, error_ratio=0.2), Variant(rps=45.0), minutes=2),
    Family("50 rps, 5% errors (first 2 min step)", True, Variant(rps=50.0, error_ratio=0.05), Variant(rps=450.0), minutes=2),
    Family("revision changeover, r1 ok, r2 bad", True, Variant(error_ratio=0.06), Variant(), previous=Variant()),
    Family("low traffic 0.3 rps, 10% errors", True, Variant(rps=0.3, error_ratio=0.10), Variant(), minutes=60),
)  # fmt: skip
BLATANT = "5 rps, 20% errors (blatant)"
FAST_50RPS = "50 rps, 5% errors (first 2 min step)"
AA = "A/A, polled every 10 s for 1 h"


def low_traffic(f: Family) -> bool:
    return f.canary.rps < 1.0


@dataclass
class Samples:
    """One variant's 10 s samples."""

    requests: np.ndarray  # (steps,)
    errors: np.ndarray  # (steps,)
    buckets: np.ndarray  # (steps, len(BOUNDS)); overflow = requests - sum


def bucket_probabilities(v: Variant) -> np.ndarray:
    cdf = stats.lognorm.cdf(np.asarray(BOUNDS), s=v.sigma, scale=v.median_latency_s)
    base = np.diff(np.concatenate(([0.0], cdf, [1.0])))
    if v.slow_share <= 0:
        return base
    # The slow tail is uniform on (1.6, 4] s; it takes the share evenly from every bucket.
    edges = np.concatenate(([0.0], BOUNDS, [np.inf]))
    slow = np.clip(np.minimum(edges[1:], 4.0) - np.maximum(edges[:-1], 1.6), 0.0, None) / 2.4
    return (1 - v.slow_share) * base + v.slow_share * slow


def generate(
    v: Variant, rng: np.random.Generator, steps: int, error_ratio: np.ndarray | None = None
) -> Samples:
    n = rng.poisson(v.rps * STEP_S, size=steps)
    p = np.full(steps, v.error_ratio) if error_ratio is None else error_ratio
    if v.dispersion is not None:
        p = p * rng.gamma(v.dispersion, 1.0 / v.dispersion, size=steps)
    errors = rng.binomial(n, np.clip(p, 0.0, 1.0))
    probs = bucket_probabilities(v)
    buckets = np.array([rng.multinomial(k, probs)[:-1] for k in n])
    return Samples(n.astype(float), errors.astype(float), buckets.astype(float))


@dataclass
class Analysis:
    """One labelled analysis: its samples (aligned on the analysis start) and results."""

    family: Family
    service: str
    canary: Samples
    baseline: Samples
    previous: Samples | None  # revision r1, before the analysis of r2
    history: Samples  # the baseline before the analysis (it was running already)
    first_fail_s: dict[str, float | None] = field(default_factory=dict)
    verdicts: list[int] = field(default_factory=list)


def make_analysis(f: Family, service: str, seed: int) -> Analysis:
    rng = np.random.default_rng(seed)
    steps = f.minutes * MINUTE
    shared = np.zeros(steps)
    for start in rng.choice(np.arange(0, max(steps - 18, 1)), size=f.bursts, replace=False):
        shared[start : start + 18] = 0.15
    if f.outage_at_minute is not None:
        shared[f.outage_at_minute * MINUTE : f.outage_at_minute * MINUTE + 18] = 0.15
    if f.shared_error_ratio:
        shared[:] = f.shared_error_ratio

    def ratio(v: Variant, ramp: int = 0) -> np.ndarray:
        base = np.full(steps, v.error_ratio)
        if ramp:
            base = v.error_ratio * np.minimum(np.arange(1, steps + 1) / (ramp * MINUTE), 1.0)
        return np.maximum(base, shared)

    canary = generate(f.canary, rng, steps, ratio(f.canary, f.ramp_minutes))
    if f.gap is not None:
        silent = slice(f.gap[0] * MINUTE, f.gap[1] * MINUTE)
        canary.requests[silent], canary.errors[silent], canary.buckets[silent] = 0, 0, 0
    baseline = generate(f.baseline, rng, steps, ratio(f.baseline))
    previous = None if f.previous is None else generate(f.previous, rng, LEAD_STEPS)
    history = generate(f.baseline, rng, LEAD_STEPS)
    return Analysis(f, service, canary, baseline, previous, history)


# --- reference judges ------------------------------------------------------------------------


def _per_minute(x: np.ndarray) -> np.ndarray:
    whole = (len(x) // MINUTE) * MINUTE
    return x[:whole].reshape(len(x) // MINUTE, MINUTE, *x.shape[1:]).sum(axis=1)


def _p95(requests: float, buckets: np.ndarray) -> float:
    return histogram_quantile(0.95, BOUNDS, tuple(buckets), requests)


def kayenta_first_fail_s(canary: Samples, baseline: Samples) -> float | None:
    cr, ce, cb = (_per_minute(a) for a in (canary.requests, canary.errors, canary.buckets))
    br, be, bb = (_per_minute(a) for a in (baseline.requests, baseline.errors, baseline.buckets))
    c_ratio = np.divide(ce, cr, out=np.zeros_like(ce), where=cr > 0)
    b_ratio = np.divide(be, br, out=np.zeros_like(be), where=br > 0)
    c_p95 = np.array([_p95(cr[i], cb[i]) for i in range(len(cr))])
    b_p95 = np.array([_p95(br[i], bb[i]) for i in range(len(br))])
    for look in range(3, len(cr) + 1):
        for c, b in ((c_ratio[:look], b_ratio[:look]), (c_p95[:look], b_p95[:look])):
            if np.all(c == c[0]) and np.all(b == c[0]):
                continue
            p = stats.mannwhitneyu(c, b, alternative="two-sided").pvalue
            effect = math.nan if c.mean() == 0 or b.mean() == 0 else c.mean() / b.mean()
            if p < 0.05 and effect >= 1.2:
                return 60.0 * look
    return None


def flagger_first_fail_s(canary: Samples, threshold: int = 5) -> float | None:
    cr, ce, cb = (_per_minute(a) for a in (canary.requests, canary.errors, canary.buckets))
    failed = 0
    for i in range(len(cr)):
        if cr[i] <= 0 or ce[i] / cr[i] > 0.02 or _p95(cr[i], cb[i]) > 1.5:
            failed += 1
            if failed >= threshold:
                return 60.0 * (i + 1)
    return None


# --- our judge, live in the engine -------------------------------------------------------------


def _block(
    req: pb.PushRequest, service: str, variant: str, smp: Samples, i: int, t: int, rev: str = ""
) -> None:
    block = req.blocks.add()
    block.key.service, block.key.variant = service, variant
    block.key.route, block.key.method = "/", "GET"
    if rev:
        block.key.extra_labels["revision"] = rev
    block.timestamps_unix_ms.append(1000 * t)
    block.requests.append(float(smp.requests[i]))
    block.errors.append(float(smp.errors[i]))
    block.latency_bounds_seconds.extend(BOUNDS)
    block.latency_bucket_counts.extend(smp.buckets[i].tolist())


class LiveEngine:
    """The real EngineApp in-process with a settable clock, driven over gRPC."""

    def __init__(self) -> None:
        self.now = float(START_S)

    async def __aenter__(self) -> LiveEngine:
        import grpc

        from sloengine.app import EngineApp
        from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
        from sloengine.settings.config import EngineConfig

        self._tmp = tempfile.TemporaryDirectory(prefix="bench-verdicts-")
        config = EngineConfig(
            data_dir=Path(self._tmp.name), grpc_listen="127.0.0.1:0", http_listen="127.0.0.1:0",
            snapshot_interval_seconds=0,
        )  # fmt: skip
        self.app = EngineApp(config, clock=lambda: self.now)
        await self.app.start()
        self._channel = grpc.aio.insecure_channel(f"127.0.0.1:{self.app.grpc_port}")
        self.ingest = pb_grpc.IngestServiceStub(self._channel)
        self.canary = pb_grpc.CanaryServiceStub(self._channel)
        self._seq = 0
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._channel.close()
        await self.app.stop(1.0)
        self._tmp.cleanup()

    async def push(self, req: pb.PushRequest) -> None:
        self._seq += 1
        req.producer_id, req.sequence = "bench-verdicts", self._seq
        call = self.ingest.Push()
        await call.write(req)
        await call.done_writing()
        acks = [ack async for ack in call]
        if [a.status for a in acks] != [pb.PushAck.ACCEPTED]:
            raise RuntimeError(f"push rejected: {acks[:1]}")

    async def verdict(self, service: str, revision: str) -> int:
        reply = await self.canary.GetVerdict(
            pb.GetVerdictRequest(service=service, revision=revision)
        )
        return int(reply.verdict)


async def run_live(analyses: list[Analysis], latencies: list[float]) -> None:
    """Every analysis, looked at every 10 s of its own time, through the live engine."""
    lead = LEAD_STEPS
    horizon = lead + max(a.family.minutes for a in analyses) * MINUTE
    running = {a.service: a for a in analyses}
    async with LiveEngine() as engine:
        for step in range(horizon):
            t = START_S + STEP_S * (step + 1)
            req = pb.PushRequest()
            k = step - lead  # index into the analysis samples
            for a in analyses:
                if 0 <= step < lead:
                    _block(req, a.service, "baseline", a.history, step, t)
                    if a.previous is not None:
                        _block(req, a.service, "canary", a.previous, step, t, "r1")
                if 0 <= k < a.family.minutes * MINUTE:
                    rev = "r2" if a.previous is not None else ""
                    _block(req, a.service, "canary", a.canary, k, t, rev)
                    _block(req, a.service, "baseline", a.baseline, k, t)
            if req.blocks:
                engine.now = float(t)
                await engine.push(req)
            if k < 0:
                continue
            looking = [a for a in running.values() if k < a.family.minutes * MINUTE]
            t0 = time.perf_counter()
            verdicts = await asyncio.gather(
                *(engine.verdict(a.service, "r2" if a.previous else "") for a in looking)
            )
            if looking:
                latencies.append((time.perf_counter() - t0) / len(looking))
            for a, v in zip(looking, verdicts, strict=True):
                a.verdicts.append(v)
                if v == pb.FAIL:
                    a.first_fail_s["ours"] = float(STEP_S * (k + 1))
                    del running[a.service]  # the controller rolls back


# --- report ----------------------------------------------------------------------------------

JUDGES = ("ours", "kayenta", "flagger")
TITLES = {"ours": "sequential (ours)", "kayenta": "Kayenta-style MW", "flagger": "Flagger-style"}


def fmt_s(values: list[float]) -> str:
    return f"{statistics.median(values):5.0f}s" if values else "     -"


def report(analyses: list[Analysis], runs: int, seed: int, took: float, lat: list[float]) -> None:
    print(
        f"verdict quality: {runs} analyses per family (A/A x3), live looks every {STEP_S} s"
        f" through IngestService/Push + CanaryService/GetVerdict, seed {seed}, alpha"
        f" {DEFAULT_ALPHA:g}; {took:.0f} s"
    )
    ms = np.percentile(np.array(lat) * 1000, [50, 99]) if lat else [0, 0]
    print(f"{len(lat)} look rounds; per verdict: median {ms[0]:.2f} ms, p99 {ms[1]:.2f} ms\n")
    header = f"{'family':<40} {'should':<6}" + "".join(f"{TITLES[j]:>26}" for j in JUDGES)
    print(header)
    print("-" * len(header))
    for f in FAMILIES:
        group = [a for a in analyses if a.family is f]
        cells = []
        for j in JUDGES:
            fails = [x for a in group if (x := a.first_fail_s.get(j)) is not None]
            cells.append(f"FAIL {len(fails):3d}/{len(group):<3d} {fmt_s(fails):>8}")
        should = "FAIL" if f.bad else "PASS"
        print(f"{f.name:<40} {should:<6}" + "".join(f"{c:>26}" for c in cells))
    print()

    def rate(flags: list[bool]) -> str:
        return f"{100 * sum(flags) / len(flags):5.1f}%" if flags else "    -"

    rows: list[tuple[str, list[str]]] = []
    healthy = [a for a in analyses if not a.family.bad]
    bad = [a for a in analyses if a.family.bad and not low_traffic(a.family)]
    aa = [a for a in analyses if a.family.name == AA]
    rows.append(("false positives (healthy, any FAIL)", [rate([a.first_fail_s.get(j) is not None for a in healthy]) for j in JUDGES]))  # fmt: skip
    rows.append((f"  A/A 1 h, every 10 s (goal <= {DEFAULT_ALPHA:g})", [rate([a.first_fail_s.get(j) is not None for a in aa]) for j in JUDGES]))  # fmt: skip
    rows.append(("false negatives (bad, >= 1 rps)", [rate([a.first_fail_s.get(j) is None for a in bad]) for j in JUDGES]))  # fmt: skip
    rows.append(("median time to FAIL (bad, >= 1 rps)", [fmt_s([x for a in bad if (x := a.first_fail_s.get(j))]) for j in JUDGES]))  # fmt: skip
    for name, label in (
        (FAST_50RPS, "median time to FAIL at 50 rps"),
        (BLATANT, "blatant: FAILed within 60 s"),
    ):
        group = [a for a in analyses if a.family.name == name]
        cells = []
        for j in JUDGES:
            times = [a.first_fail_s.get(j) for a in group]
            if name == BLATANT:
                cells.append(rate([t is not None and t <= 60 for t in times]))
            else:
                cells.append(fmt_s([t for t in times if t is not None]))
        rows.append((label, cells))  # fmt: skip
    print(f"{'':<47}" + "".join(f"{TITLES[j]:>26}" for j in JUDGES))
    for label, cells in rows:
        print(f"{label:<47}" + "".join(f"{c:>26}" for c in cells))
    low = [a for a in analyses if low_traffic(a.family)]
    finals = [pb.Verdict.Name(a.verdicts[-1]) if a.verdicts else "none" for a in low]
    print(
        "\nunder 1 rps, our last verdicts: "
        + ", ".join(f"{v} {finals.count(v)}" for v in sorted(set(finals)))
    )


def build(runs: int, seed: int) -> list[Analysis]:
    analyses = []
    for fi, f in enumerate(FAMILIES):
        for r in range(runs * f.runs_factor):
            analyses.append(make_analysis(f, f"f{fi}-r{r}", seed + 1000 * fi + r))
    return analyses


def judge_references(analyses: list[Analysis]) -> None:
    for a in analyses:
        a.first_fail_s["kayenta"] = kayenta_first_fail_s(a.canary, a.baseline)
        a.first_fail_s["flagger"] = flagger_first_fail_s(a.canary)


async def run(runs: int, seed: int) -> tuple[list[Analysis], float, list[float]]:
    analyses = build(runs, seed)
    latencies: list[float] = []
    started = time.perf_counter()
    await run_live(analyses, latencies)
    judge_references(analyses)
    return analyses, time.perf_counter() - started, latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="analyses per family")
    parser.add_argument("--seed", type=int, default=20270115)
    args = parser.parse_args()
    analyses, took, latencies = asyncio.run(run(args.runs, args.seed))
    report(analyses, args.runs, args.seed, took, latencies)
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__: list[Any] = []
