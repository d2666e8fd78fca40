"""The overall verdict of a canary from its guards.

FAIL if any guard FAILs; else INCONCLUSIVE if any guard lacks the data to decide (PASS
needs every guard to have enough traffic); else PASS. No guards at all is INCONCLUSIVE.

Repeated looks: a controller polls the judge every few seconds or minutes, and each look
is a new chance for a false FAIL. The default `DEFAULT_ALPHA` = 0.001 per look keeps a
Bonferroni bound of 1% over 10 independent looks; looks at overlapping windows are strongly
correlated, so far more polls than that cost much less, and a FAIL also needs the absolute
signal (a threshold breach in two windows), which a healthy canary rarely shows. The bench
(`bench/bench_verdicts.py`) measures the resulting false-positive rate over whole analyses.
"""

from __future__ import annotations

from collections.abc import Sequence

from sloengine.judge._model import (
    ErrorRatioGuard,
    Guard,
    GuardOutcome,
    Judgement,
    LatencyQuantileGuard,
    Observation,
    Verdict,
)
from sloengine.judge.guards import evaluate_error_ratio_guard, evaluate_latency_guard

__all__ = ["DEFAULT_ALPHA", "combine", "evaluate_guard", "judge"]

DEFAULT_ALPHA = 0.001


def evaluate_guard(guard: Guard, obs: Observation, alpha: float = DEFAULT_ALPHA) -> GuardOutcome:
    """Both signals of one guard and its verdict."""
    if isinstance(guard, ErrorRatioGuard):
        return evaluate_error_ratio_guard(guard, obs, alpha)
    if isinstance(guard, LatencyQuantileGuard):
        return evaluate_latency_guard(guard, obs, alpha)
    raise TypeError(f"unknown guard type {type(guard).__name__}")


def combine(outcomes: Sequence[GuardOutcome]) -> Judgement:
    """The overall verdict and its one-line reason from the guards' outcomes."""
    outcomes = tuple(outcomes)
    if not outcomes:
        return Judgement(Verdict.INCONCLUSIVE, "INCONCLUSIVE: no guards configured", ())
    for verdict in (Verdict.FAIL, Verdict.INCONCLUSIVE):
        hits = [o for o in outcomes if o.verdict is verdict]
        if hits:
            more = f" (and {len(hits) - 1} more)" if len(hits) > 1 else ""
            return Judgement(verdict, f"{hits[0].reason}{more}", outcomes)
    reason = "PASS: " + "; ".join(o.reason.removeprefix("PASS: ") for o in outcomes)
    return Judgement(Verdict.PASS, reason, outcomes)


def judge(checks: Sequence[tuple[Guard, Observation]], alpha: float = DEFAULT_ALPHA) -> Judgement:
    """Evaluate every (guard, observation) pair and combine them into one verdict."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    return combine([evaluate_guard(guard, obs, alpha) for guard, obs in checks])
