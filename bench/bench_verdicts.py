"""Verdict quality: the dual-signal judge vs a Kayenta-style and a Flagger-style judge.

A seeded generator makes labelled canary analyses (1 h, canary and baseline started
together, 10 s samples). Each analysis is judged every minute (60 looks, as a controller
polls). Our judge runs inside the real engine: samples go in through IngestService/Push
with their replayed timestamps and verdicts come out of CanaryService/GetVerdict at each
look's eval time (when the engine's durable store is not importable, the same store and
judge run in-process and the output says so). The two baselines judge the very same
samples:

- Kayenta-style: per-minute error ratios and p95s of the analysis so far, two-sided
  Mann-Whitney U (p < 0.05) and mean-ratio effect size >= 1.2 (NaN when the baseline
  mean is 0, as in Kayenta's EffectSizes.meanRatio, and NaN never classifies as High);
  FAIL when either metric is High.
- Flagger-style: every minute, the canary's error ratio (> 2%) and p95 (> 1.5 s) over the
  last 1 m; no data is a failed check (Flagger's "no values found"); FAIL after 5 failed
  checks (Flagger's `threshold: 5`).

An analysis is a false positive when a healthy canary gets FAIL at any look, a false
negative when a bad canary never gets FAIL. Low-traffic scenarios are reported apart
(there the right answer is INCONCLUSIVE), as the goal asks.

    .venv/bin/python bench/bench_verdicts.py            # 60 analyses per scenario
    .venv/bin/python bench/bench_verdicts.py --quick    # 8 per scenario
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS as BOUNDS
from sloengine.judge import histogram_quantile
from sloengine.proto.sloengine.v1 import engine_pb2 as pb

STEP_S = 10
ANALYSIS_S = 3600
LOOK_EVERY_S = 60
STEPS = ANALYSIS_S // STEP_S
PER_MIN = LOOK_EVERY_S // STEP_S
START_S = 1_800_000_000  # canary start; replayed time, pinned
END_S = START_S + ANALYSIS_S


# --- scenarios -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    rps: float = 20.0
    error_ratio: float = 0.005
    dispersion: float | None = None  # gamma shape of the per-sample error-rate multiplier
    median_latency_s: float = 0.35
    sigma: float = 0.5


@dataclass(frozen=True)
class Scenario:
    name: str
    bad: bool  # the canary should be rolled back
    canary: Variant
    baseline: Variant
    low_traffic: bool = False
    bursts: int = 0  # shared downstream outages (both variants), 3 min at 15% errors


SCENARIOS = (
    Scenario("healthy, noisy", False, Variant(dispersion=2.0), Variant(dispersion=2.0)),
    Scenario("bursty errors in both", False, Variant(), Variant(), bursts=3),
    Scenario("higher variance only", False, Variant(error_ratio=0.008, dispersion=0.2), Variant(error_ratio=0.008)),
    Scenario("low traffic, healthy", False, Variant(rps=0.3, error_ratio=0.01), Variant(error_ratio=0.01), low_traffic=True),
    Scenario("low traffic, failing", True, Variant(rps=0.3, error_ratio=0.10), Variant(), low_traffic=True),
    Scenario("zero-error baseline, canary 5%", True, Variant(error_ratio=0.05), Variant(error_ratio=0.0)),
    Scenario("2x error ratio (1.5% -> 3%)", True, Variant(error_ratio=0.03), Variant(error_ratio=0.015)),
    Scenario("p95 +30% (1.3 s -> 1.69 s)", True, Variant(median_latency_s=0.742), Variant(median_latency_s=0.571)),
)  # fmt: skip


@dataclass
class Samples:
    """One variant's 10 s samples over the analysis."""

    requests: np.ndarray  # (STEPS,)
    errors: np.ndarray  # (STEPS,)
    buckets: np.ndarray  # (STEPS, len(BOUNDS)); overflow = requests - sum


def bucket_probabilities(median_s: float, sigma: float) -> np.ndarray:
    cdf = stats.lognorm.cdf(np.asarray(BOUNDS), s=sigma, scale=median_s)
    return np.diff(np.concatenate(([0.0], cdf, [1.0])))


def generate(v: Variant, rng: np.random.Generator, burst_mask: np.ndarray) -> Samples:
    n = rng.poisson(v.rps * STEP_S, size=STEPS)
    p = np.full(STEPS, v.error_ratio)
    if v.dispersion is not None:
        p = p * rng.gamma(v.dispersion, 1.0 / v.dispersion, size=STEPS)
    p = np.where(burst_mask, 0.15, np.clip(p, 0.0, 1.0))
    errors = rng.binomial(n, p)
    probs = bucket_probabilities(v.median_latency_s, v.sigma)
    buckets = np.array([rng.multinomial(k, probs)[:-1] for k in n])
    return Samples(n.astype(float), errors.astype(float), buckets.astype(float))


def make_run(s: Scenario, seed: int) -> tuple[Samples, Samples]:
    rng = np.random.default_rng(seed)
    mask = np.zeros(STEPS, dtype=bool)
    for start in rng.choice(np.arange(0, STEPS - 18), size=s.bursts, replace=False):
        mask[start : start + 18] = True
    return generate(s.canary, rng, mask), generate(s.baseline, rng, mask)


# --- baseline judges ---------------------------------------------------------------------------


def _per_minute(x: np.ndarray) -> np.ndarray:
    return x.reshape(STEPS // PER_MIN, PER_MIN, *x.shape[1:]).sum(axis=1)


def _p95(requests: float, buckets: np.ndarray) -> float:
    return histogram_quantile(0.95, BOUNDS, tuple(buckets), requests)


def kayenta_first_fail(canary: Samples, baseline: Samples) -> int | None:
    """Look index (1-based minutes) of the first FAIL, or None."""
    cr, ce, cb = (
        _per_minute(canary.requests),
        _per_minute(canary.errors),
        _per_minute(canary.buckets),
    )
    br, be, bb = (
        _per_minute(baseline.requests),
        _per_minute(baseline.errors),
        _per_minute(baseline.buckets),
    )
    c_ratio = np.divide(ce, cr, out=np.zeros_like(ce), where=cr > 0)
    b_ratio = np.divide(be, br, out=np.zeros_like(be), where=br > 0)
    c_p95 = np.array([_p95(cr[i], cb[i]) for i in range(len(cr))])
    b_p95 = np.array([_p95(br[i], bb[i]) for i in range(len(br))])
    for look in range(3, len(cr) + 1):
        for c, b in ((c_ratio[:look], b_ratio[:look]), (c_p95[:look], b_p95[:look])):
            if np.all(c == c[0]) and np.all(b == c[0]):
                continue
            p = stats.mannwhitneyu(c, b, alternative="two-sided").pvalue
            # Kayenta's EffectSizes.meanRatio: NaN when either mean is 0.
            effect = math.nan if c.mean() == 0 or b.mean() == 0 else c.mean() / b.mean()
            if p < 0.05 and effect >= 1.2:  # NaN >= 1.2 is False: a zero baseline never fails
                return look
    return None


def flagger_first_fail(canary: Samples, _baseline: Samples, threshold: int = 5) -> int | None:
    cr, ce, cb = (
        _per_minute(canary.requests),
        _per_minute(canary.errors),
        _per_minute(canary.buckets),
    )
    failed = 0
    for i in range(len(cr)):
        if cr[i] <= 0 or ce[i] / cr[i] > 0.02 or _p95(cr[i], cb[i]) > 1.5:
            failed += 1
            if failed >= threshold:
                return i + 1
    return None


# --- our judge, through the engine -------------------------------------------------------------


def to_push(service: str, seq: int, canary: Samples, baseline: Samples) -> pb.PushRequest:
    req = pb.PushRequest(producer_id="bench-verdicts", sequence=seq)
    for variant, smp in (("canary", canary), ("baseline", baseline)):
        block = req.blocks.add()
        block.key.service, block.key.variant = service, variant
        block.key.route, block.key.method = "/", "GET"
        block.timestamps_unix_ms.extend(1000 * (START_S + STEP_S * (i + 1)) for i in range(STEPS))
        block.requests.extend(smp.requests.tolist())
        block.errors.extend(smp.errors.tolist())
        block.latency_bounds_seconds.extend(BOUNDS)
        block.latency_bucket_counts.extend(smp.buckets.ravel().tolist())
    return req


LOOK_TIMES = [START_S + LOOK_EVERY_S * k for k in range(1, ANALYSIS_S // LOOK_EVERY_S + 1)]


@dataclass
class OurResult:
    first_fail: int | None
    final: str
    decided_looks: int = 0


class EngineDriver:
    """The real EngineApp in-process: IngestService/Push in, CanaryService/GetVerdict out."""

    name = "engine over gRPC (IngestService/Push, CanaryService/GetVerdict)"

    async def __aenter__(self) -> EngineDriver:
        import grpc

        from sloengine.app import EngineApp
        from sloengine.config import EngineConfig
        from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc

        self._tmp = tempfile.TemporaryDirectory(prefix="bench-verdicts-")
        config = EngineConfig(
            data_dir=Path(self._tmp.name), grpc_listen="127.0.0.1:0", http_listen="127.0.0.1:0",
            snapshot_interval_seconds=0,
        )  # fmt: skip
        self.app = EngineApp(config, clock=lambda: float(END_S + 1))
        await self.app.start()
        self._channel = grpc.aio.insecure_channel(f"127.0.0.1:{self.app.grpc_port}")
        self.ingest = pb_grpc.IngestServiceStub(self._channel)
        self.canary = pb_grpc.CanaryServiceStub(self._channel)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._channel.close()
        await self.app.stop(1.0)
        self._tmp.cleanup()

    async def push_all(self, requests: list[pb.PushRequest]) -> None:
        call = self.ingest.Push()
        for req in requests:
            await call.write(req)
        await call.done_writing()
        acks = [ack async for ack in call]
        bad = [a for a in acks if a.status != pb.PushAck.ACCEPTED]
        if bad or len(acks) != len(requests):
            raise RuntimeError(f"push rejected: {bad[:1]}")

    async def verdict(self, service: str, at_s: int) -> int:
        request = pb.GetVerdictRequest(service=service)
        request.eval_time.FromSeconds(at_s)
        return int((await self.canary.GetVerdict(request)).verdict)


class InProcessDriver:
    """Fallback: the same store, adapter and judge, without the engine's servers."""

    name = "in-process store + judge (engine store not available)"

    async def __aenter__(self) -> InProcessDriver:
        from sloengine.canary._config import CanaryConfig
        from sloengine.store import SeriesStore

        self.store = SeriesStore()
        self.config = CanaryConfig()
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def push_all(self, requests: list[pb.PushRequest]) -> None:
        from sloengine.store import decode_push

        for req in requests:
            self.store.apply(
                decode_push(req, now_s=END_S + 1, max_age_s=math.inf, max_future_s=math.inf)
            )

    async def verdict(self, service: str, at_s: int) -> int:
        from sloengine.canary._observe import build_checks
        from sloengine.judge import judge

        cfg = self.config
        checks = build_checks(
            self.store, service, "canary", "baseline", cfg.defaults, (),
            cfg.short_window_seconds, cfg.long_window_seconds, at_s,
        )  # fmt: skip
        return int(pb.Verdict.Value(judge(checks, cfg.alpha).verdict.value))


def pick_driver() -> Callable[[], EngineDriver | InProcessDriver]:
    try:
        from sloengine.app import EngineApp  # noqa: F401
        from sloengine.store import DurableStore  # noqa: F401
    except ImportError:
        return InProcessDriver
    return EngineDriver


async def judge_ours(
    driver: EngineDriver | InProcessDriver, service: str, latencies: list[float]
) -> OurResult:
    first_fail, last, decided = None, pb.INCONCLUSIVE, 0
    for look, at in enumerate(LOOK_TIMES, start=1):
        t0 = time.perf_counter()
        last = await driver.verdict(service, at)
        latencies.append(time.perf_counter() - t0)
        decided += last != pb.INCONCLUSIVE
        if last == pb.FAIL and first_fail is None:
            first_fail = look
            break  # the controller rolls back here
    return OurResult(first_fail, pb.Verdict.Name(last), decided)


# --- report ------------------------------------------------------------------------------------


@dataclass
class Tally:
    fails: dict[str, list[int | None]] = field(default_factory=dict)


def rate(flags: list[bool]) -> str:
    return f"{100 * sum(flags) / len(flags):5.1f}%" if flags else "    -"


def median_minutes(values: list[int]) -> str:
    return f"{statistics.median(values):4.0f} min" if values else "      -"


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60, help="analyses per scenario")
    parser.add_argument("--quick", action="store_true", help="8 analyses per scenario")
    parser.add_argument("--seed", type=int, default=20270115)
    args = parser.parse_args()
    runs = 8 if args.quick else args.runs
    judges = ("dual-signal (ours)", "Kayenta-style MW", "Flagger-style threshold")
    results: dict[str, dict[str, list[int | None]]] = {
        s.name: {j: [] for j in judges} for s in SCENARIOS
    }
    finals: dict[str, list[str]] = {s.name: [] for s in SCENARIOS}
    data = {
        (si, r): make_run(s, args.seed + 1000 * si + r)
        for si, s in enumerate(SCENARIOS)
        for r in range(runs)
    }
    driver_factory = pick_driver()
    latencies: list[float] = []
    started = time.perf_counter()
    async with driver_factory() as driver:
        requests = [to_push(f"s{si}-r{r}", i + 1, *data[si, r]) for i, (si, r) in enumerate(data)]
        for i in range(0, len(requests), 32):
            await driver.push_all(requests[i : i + 32])
        for (si, r), (canary, baseline) in data.items():
            s = SCENARIOS[si]
            ours = await judge_ours(driver, f"s{si}-r{r}", latencies)
            results[s.name][judges[0]].append(ours.first_fail)
            finals[s.name].append(ours.final)
            results[s.name][judges[1]].append(kayenta_first_fail(canary, baseline))
            results[s.name][judges[2]].append(flagger_first_fail(canary, baseline))
    took = time.perf_counter() - started

    print(
        f"verdict quality: {runs} analyses per scenario, 60 looks each (1/min over 1 h), seed {args.seed}"
    )
    lat_ms = np.percentile(np.array(latencies) * 1000, [50, 99])
    print(f"our judge ran through: {driver_factory.name}; {took:.1f}s")
    print(
        f"{len(latencies)} verdicts, latency per verdict: median {lat_ms[0]:.2f} ms,"
        f" p99 {lat_ms[1]:.2f} ms\n"
    )
    header = f"{'scenario':<34} {'should':<7}" + "".join(f"{j:>26}" for j in judges)
    print(header)
    print("-" * len(header))
    for s in SCENARIOS:
        cells = []
        for j in judges:
            fails = [f for f in results[s.name][j] if f is not None]
            cells.append(f"FAIL {len(fails):3d}/{runs:<3d} {median_minutes(fails):>9}")
        should = "FAIL" if s.bad and not s.low_traffic else ("INCONC" if s.low_traffic else "PASS")
        print(f"{s.name:<34} {should:<7}" + "".join(f"{c:>26}" for c in cells))
    print()
    summary = f"{'':<42}" + "".join(f"{j:>26}" for j in judges)
    print(summary)
    for label, pick, want_fail in (
        ("false positives (healthy, any look FAIL)", lambda s: not s.bad, False),
        ("false negatives (bad, enough traffic)", lambda s: s.bad and not s.low_traffic, True),
    ):
        row = []
        for j in judges:
            flags = [
                (f is None) if want_fail else (f is not None)
                for s in SCENARIOS if pick(s)
                for f in results[s.name][j]
            ]  # fmt: skip
            row.append(rate(flags))
        print(f"{label:<42}" + "".join(f"{c:>26}" for c in row))
    ttf = []
    for j in judges:
        times = [
            f for s in SCENARIOS if s.bad and not s.low_traffic for f in results[s.name][j] if f
        ]
        ttf.append(median_minutes(times))
    print(f"{'median time to FAIL (bad, enough traffic)':<42}" + "".join(f"{c:>26}" for c in ttf))
    low = [v for s in SCENARIOS if s.low_traffic for v in finals[s.name]]
    print(
        f"\nlow traffic, our final verdicts: {', '.join(f'{v} {low.count(v)}' for v in sorted(set(low)))}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
