"""The overall verdict of a canary from its guards.

FAIL if any guard FAILs; else INCONCLUSIVE if any guard lacks the data to decide (PASS
needs every guard to have enough traffic); else PASS. No guards at all is INCONCLUSIVE.

Repeated looks: a controller polls the judge every 10-30 s for the whole analysis. Every
guard's signals come from anytime-valid sequential tests (`sequential`), so `alpha` bounds
the chance of a false FAIL over all looks of an analysis, not per look. It is split evenly
over the guards (Bonferroni), so the whole verdict keeps it: with the default 0.01 and three
guards each guard tests at 0.0033.
"""

from __future__ import annotations

from collections.abc import Sequence

from sloengine.maths.judge._model import (
    ErrorRatioGuard,
    Guard,
    GuardOutcome,
    Judgement,
    LatencyQuantileGuard,
    Observation,
    Verdict,
)
from sloengine.maths.judge.guards import evaluate_error_ratio_guard, evaluate_latency_guard

__all__ = ["DEFAULT_ALPHA", "combine", "evaluate_guard", "judge"]

DEFAULT_ALPHA = 0.01


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
    per_guard = alpha / max(len(checks), 1)
    return combine([evaluate_guard(guard, obs, per_guard) for guard, obs in checks])
