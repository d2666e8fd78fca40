"""The run's one verdict, from the merged intervals of every process (pure, no locust).

The master (or the single local process) calls `build_verdict` during the run, for progress
and abortOnFail, and once at the end for the exit code and the reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from loadtests.intervals import IntervalBook
from loadtests.options import Settings
from loadtests.thresholds import EndpointJudgement, IntervalStats, judge_run, summary_lines
from loadtests.traffic import BASELINE, CANARY

EXIT_OK = 0
EXIT_BREACHED = 1
EXIT_BAD_OPTIONS = 2


@dataclass(frozen=True)
class IntervalPoint:
    offset_seconds: float  # interval start, from the run's start
    stats: IntervalStats


@dataclass(frozen=True)
class StepSummary:
    """One phase of a canary/rollout run: how traffic was split and how each variant did."""

    phase: str
    first_offset_seconds: float
    last_offset_seconds: float
    baseline: IntervalStats
    canary: IntervalStats

    @property
    def canary_share(self) -> float:
        total = self.baseline.requests + self.canary.requests
        return self.canary.requests / total if total else 0.0

    def line(self) -> str:
        def side(name: str, s: IntervalStats) -> str:
            p95 = s.percentile_ms(0.95)
            p95_text = "n/a" if p95 is None else f"{p95:.0f} ms"
            return f"{name} p95 {p95_text}, errors {s.error_ratio():.2%} of {s.requests}"

        return (
            f"{self.phase} [{self.first_offset_seconds:.0f}s..{self.last_offset_seconds:.0f}s]: "
            f"canary {self.canary_share:.1%} of traffic; "
            f"{side('canary', self.canary)}; {side('baseline', self.baseline)}"
        )


@dataclass(frozen=True)
class RunVerdict:
    settings: Settings
    started_at_epoch: float
    judged_at_epoch: float
    judgements: tuple[EndpointJudgement, ...]
    series: dict[str, list[IntervalPoint]]
    steps: tuple[StepSummary, ...]
    aborted: str  # why abortOnFail ended the run early; "" if it did not
    final: bool

    @property
    def ok(self) -> bool:
        return bool(self.judgements) and all(j.ok for j in self.judgements) and not self.aborted

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.ok else EXIT_BREACHED

    @property
    def breached_endpoints(self) -> list[str]:
        return [j.endpoint for j in self.judgements if not j.ok]

    def lines(self) -> list[str]:
        """The summary printed as `loadtest: <line>`; the last line is the verdict."""
        prefix = "rollout" if self.settings.profile == "rollout" else "traffic"
        out = [f"{prefix} {s.line()}" for s in self.steps]
        body = summary_lines(self.judgements)
        if self.aborted:
            body.insert(len(body) - 1, f"aborted early (abortOnFail): {self.aborted}")
        return out + body


def first_judged_index(book: IntervalBook, started_at_epoch: float, warmup_seconds: float) -> int:
    """The first interval that starts at or after the end of the warm-up."""
    return math.ceil((started_at_epoch + warmup_seconds) / book.interval_seconds - 1e-9)


def build_verdict(
    book: IntervalBook,
    settings: Settings,
    started_at_epoch: float,
    now_epoch: float,
    final: bool,
    aborted: str = "",
    settle_seconds: float = 0.0,
) -> RunVerdict:
    """Judge the intervals in `book`.

    During the run only CLOSED intervals count: those that ended `settle_seconds` ago (the
    time a worker's report may take to arrive). At the end every interval counts, except a
    last one cut short by the stop when there are more than enough before it.
    """
    first = first_judged_index(book, started_at_epoch, settings.warmup_seconds)
    last = book.last_index() if final else book.index_of(now_epoch - settle_seconds) - 1
    by_endpoint = book.endpoint_series(first, last)
    series: dict[str, list[IntervalPoint]] = {}
    judged: dict[str, list[IntervalStats]] = {}
    for endpoint, by_index in by_endpoint.items():
        indexes = sorted(by_index)
        if final and len(indexes) > settings.last_intervals:
            end_of_last = book.start_of(indexes[-1]) + book.interval_seconds
            if end_of_last > now_epoch:
                indexes = indexes[:-1]  # the stop cut this one short
        series[endpoint] = [
            IntervalPoint(book.start_of(i) - started_at_epoch, by_index[i]) for i in indexes
        ]
        judged[endpoint] = [by_index[i] for i in indexes]
    judgements = judge_run(judged, settings.thresholds, settings.last_intervals)
    return RunVerdict(
        settings=settings,
        started_at_epoch=started_at_epoch,
        judged_at_epoch=now_epoch,
        judgements=tuple(judgements),
        series=series,
        steps=tuple(_steps(book, started_at_epoch)) if settings.profile != "steady" else (),
        aborted=aborted,
        final=final,
    )


def _steps(book: IntervalBook, started_at_epoch: float) -> list[StepSummary]:
    phases: dict[str, dict[str, IntervalStats]] = {}
    spans: dict[str, tuple[float, float]] = {}
    for totals in book.phase_totals():
        phases.setdefault(totals.phase, {})[totals.variant] = totals.stats
        lo, hi = spans.get(totals.phase, (totals.first_at, totals.last_at))
        spans[totals.phase] = (min(lo, totals.first_at), max(hi, totals.last_at))
    out = []
    for phase in sorted(phases, key=lambda p: spans[p][0]):
        lo, hi = spans[phase]
        out.append(
            StepSummary(
                phase=phase or "canary",
                first_offset_seconds=max(0.0, lo - started_at_epoch),
                last_offset_seconds=max(0.0, hi - started_at_epoch),
                baseline=phases[phase].get(BASELINE, IntervalStats()),
                canary=phases[phase].get(CANARY, IntervalStats()),
            )
        )
    return out
