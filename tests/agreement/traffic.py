"""Synthetic RED traffic, integer counts per series per step, in both shapes the agreement
test needs: the engine's `PushRequest`s and promtool's cumulative counters.

Step `i` (of `step_seconds`, 60 by default) counts the requests of `((i-1)*s, i*s]`; it is
pushed with the timestamp `base + i*s` and is in the counters from sample `i` on, so an
engine window `(t - w, t]` and a Prometheus range `[t - w, t]` read the same steps.

Counts are integers so that promtool's `a+bxN` expansion (repeated float additions) stays
exact, and every count is the same each step of a phase.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sloengine import conventions as c
from sloengine.proto.sloengine.v1 import engine_pb2 as pb

__all__ = [
    "FAST_BUCKET",
    "SLOW_BUCKET",
    "Counts",
    "Phase",
    "Series",
    "Timeline",
    "input_series",
    "push_requests",
]

BOUNDS = c.DEFAULT_LATENCY_BUCKETS_SECONDS
# Fast requests land in (0.05, 0.1], slow ones in (0.5, 1.0]: either side of a 0.5 s
# threshold and of every whole-second spelling question (`le="1.0"`).
FAST_BUCKET = BOUNDS.index(0.1)
SLOW_BUCKET = BOUNDS.index(1.0)


@dataclass(frozen=True)
class Series:
    """One RED series key; `has_error_series`: whether a `status="500"` counter exists."""

    service: str
    variant: str
    route: str
    method: str
    has_error_series: bool = True
    has_histogram: bool = True  # False: pushed without latency buckets, no histogram series

    def labels(self) -> dict[str, str]:
        return {
            c.LABEL_SERVICE: self.service,
            c.LABEL_VARIANT: self.variant,
            c.LABEL_ROUTE: self.route,
            c.LABEL_METHOD: self.method,
        }


@dataclass(frozen=True)
class Counts:
    """One step's counts of one series: 2xx, 4xx (good), 5xx, and how many were slow."""

    ok: int = 0
    client_errors: int = 0
    server_errors: int = 0
    slow: int = 0

    @property
    def requests(self) -> int:
        return self.ok + self.client_errors + self.server_errors

    def __post_init__(self) -> None:
        if self.slow > self.requests:
            raise ValueError(f"slow {self.slow} > requests {self.requests}")


@dataclass(frozen=True)
class Phase:
    """`steps` steps of the same counts per series (a series absent sends nothing)."""

    name: str
    steps: int
    counts: dict[Series, Counts]


@dataclass(frozen=True)
class Timeline:
    """Phases one after the other from step 1; `series` fixes the output order."""

    series: tuple[Series, ...]
    phases: tuple[Phase, ...]
    step_seconds: int = 60

    @property
    def steps(self) -> int:
        return sum(p.steps for p in self.phases)

    def step_phases(self) -> Iterator[tuple[int, Phase]]:
        """(step, phase) for steps 1..N."""
        step = 0
        for phase in self.phases:
            for _ in range(phase.steps):
                step += 1
                yield step, phase


def push_requests(
    timeline: Timeline, base_unix_s: int, first: int, last: int, sequence: int
) -> pb.PushRequest:
    """One columnar batch with every series' samples of steps `first..last`."""
    req = pb.PushRequest(producer_id="agreement", sequence=sequence)
    steps = [(i, p) for i, p in timeline.step_phases() if first <= i <= last]
    for s in timeline.series:
        block = req.blocks.add()
        block.key.service, block.key.variant = s.service, s.variant
        block.key.route, block.key.method = s.route, s.method
        if s.has_histogram:
            block.latency_bounds_seconds.extend(BOUNDS)
        for i, phase in steps:
            counts = phase.counts.get(s, Counts())
            block.timestamps_unix_ms.append((base_unix_s + i * timeline.step_seconds) * 1000)
            block.requests.append(counts.requests)
            block.errors.append(counts.server_errors)
            if not s.has_histogram:
                continue
            row = [0.0] * len(BOUNDS)
            row[FAST_BUCKET] = counts.requests - counts.slow
            row[SLOW_BUCKET] = counts.slow
            block.latency_bucket_counts.extend(row)
    return req


def _counter(increments: Sequence[int]) -> str:
    """promtool notation for a counter starting at 0 at step 0, one increment a step."""
    parts: list[str] = []
    value = 0
    i = 0
    first = True
    while i < len(increments):
        step = increments[i]
        run = 1
        while i + run < len(increments) and increments[i + run] == step:
            run += 1
        if first:
            # `0+bxN` is N+1 samples: step 0 (the zero) and steps 1..N.
            parts.append(f"{value}+{step}x{run}")
            first = False
        else:
            parts.append(f"{value + step}+{step}x{run - 1}")
        value += step * run
        i += run
    return " ".join(parts)


def _selector(name: str, labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def _le(bound: float) -> str:
    # Python's prometheus_client spelling: whole bounds as "1.0", like our instrumentation.
    return repr(float(bound))


def input_series(timeline: Timeline) -> list[dict[str, str]]:
    """The timeline as promtool `input_series`: request counters by status and a histogram."""
    out: list[dict[str, str]] = []
    phases = [p for _, p in timeline.step_phases()]
    for s in timeline.series:
        counts = [p.counts.get(s, Counts()) for p in phases]
        statuses = {"200": [x.ok for x in counts], "404": [x.client_errors for x in counts]}
        if s.has_error_series:
            statuses["500"] = [x.server_errors for x in counts]
        elif any(x.server_errors for x in counts):
            raise ValueError(f"{s}: 5xx counts but no error series")
        for status, increments in statuses.items():
            labels = {**s.labels(), c.LABEL_STATUS: status}
            out.append(
                {"series": _selector(c.HTTP_REQUESTS_TOTAL, labels), "values": _counter(increments)}
            )
        if not s.has_histogram:
            continue
        histogram = c.HTTP_REQUEST_DURATION_SECONDS
        total = [x.requests for x in counts]
        for j, bound in enumerate(BOUNDS):
            below = [
                (x.requests - x.slow) * (j >= FAST_BUCKET) + x.slow * (j >= SLOW_BUCKET)
                for x in counts
            ]
            out.append(
                {
                    "series": _selector(f"{histogram}_bucket", {**s.labels(), "le": _le(bound)}),
                    "values": _counter(below),
                }
            )
        out.append(
            {
                "series": _selector(f"{histogram}_bucket", {**s.labels(), "le": "+Inf"}),
                "values": _counter(total),
            }
        )
        out.append(
            {"series": _selector(f"{histogram}_count", s.labels()), "values": _counter(total)}
        )
    return out
