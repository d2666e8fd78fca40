"""The canary service's verdict record: frozen, typed, no protobuf.

`CanaryCore.evaluate` returns a `CanaryVerdict`; the live verdicts, the audit log and the
rollback hooks use it, and the transports convert it at the edge (`sloengine.grpc` to the
`sloengine.v1.CanaryVerdict` message, `verdict_to_json` for HTTP and the UI). Its fields are
the wire schema's, so each conversion is a field-by-field copy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sloengine.judge import GuardOutcome, Judgement, Verdict

if TYPE_CHECKING:
    from sloengine.canary._overrides import ForcedVerdict

__all__ = ["CanaryVerdict", "GuardResult", "Verdict", "VerdictKey", "from_judgement"]

VerdictKey = tuple[str, str, str]  # (service, canary variant, baseline variant)


@dataclass(frozen=True)
class GuardResult:
    """One guard's two signals and its verdict, as recorded and answered."""

    guard: str  # error_ratio | latency_p95 | slo_burn:<slo>
    verdict: Verdict
    threshold: float = 0.0
    # Absolute signal: the canary breaches the threshold in both windows.
    absolute_breached: bool = False
    canary_value_short: float = 0.0
    canary_value_long: float = 0.0
    baseline_value_long: float = 0.0
    # Relative signal: canary significantly and practically worse than baseline.
    relative_breached: bool = False
    p_value: float = 0.0
    effect_size: float = 0.0
    test: str = ""  # the statistical test used
    canary_samples: float = 0.0
    baseline_samples: float = 0.0
    min_samples: float = 0.0  # canary requests that decide at current rates; 0: not soon
    short_window_seconds: int = 0  # whole seconds, as answered
    long_window_seconds: int = 0
    reason: str = ""

    @classmethod
    def from_outcome(cls, o: GuardOutcome) -> GuardResult:
        return cls(
            guard=o.guard,
            verdict=o.verdict,
            threshold=float(o.threshold),
            absolute_breached=bool(o.absolute_breached),
            canary_value_short=float(o.canary_value_short),
            canary_value_long=float(o.canary_value_long),
            baseline_value_long=float(o.baseline_value_long),
            relative_breached=bool(o.relative_breached),
            p_value=float(o.p_value),
            effect_size=float(o.effect_size),
            test=o.test,
            canary_samples=float(o.canary_samples),
            baseline_samples=float(o.baseline_samples),
            min_samples=float(o.min_samples),
            short_window_seconds=round(o.short_window_seconds),
            long_window_seconds=round(o.long_window_seconds),
            reason=o.reason,
        )


@dataclass(frozen=True)
class CanaryVerdict:
    """The verdict on one canary at one time, for one revision."""

    service: str
    canary_variant: str
    baseline_variant: str
    verdict: Verdict
    reason: str = ""  # one line a human understands
    guards: tuple[GuardResult, ...] = ()
    # Integer nanoseconds (the judged time, as the wire's Timestamp carries it back).
    eval_time_ns: int = 0
    revision: str = ""
    # An operator's override in force (the judged verdict is kept in `reason`); None: judged.
    forced: ForcedVerdict | None = None

    @property
    def key(self) -> VerdictKey:
        return (self.service, self.canary_variant, self.baseline_variant)

    @property
    def eval_time_unix_s(self) -> float:
        return self.eval_time_ns / 1e9

    @property
    def canary_served_nothing(self) -> bool:
        """Every guard saw no canary request in its windows (a canary at weight 0)."""
        return bool(self.guards) and all(g.canary_samples == 0 for g in self.guards)

    def with_forced(self, forced: ForcedVerdict) -> CanaryVerdict:
        """This verdict overridden by an operator (the judged one kept in the reason)."""
        reason = (
            f"forced {forced.verdict} by {forced.actor}: {forced.reason} "
            f"(judged {self.verdict.value}: {self.reason})"
        )
        return replace(self, verdict=Verdict(forced.verdict), reason=reason, forced=forced)


def from_judgement(
    judgement: Judgement,
    *,
    service: str,
    canary: str,
    baseline: str,
    at_unix_s: float,
    revision: str,
) -> CanaryVerdict:
    """The judge's result as the canary service records it."""
    return CanaryVerdict(
        service=service,
        canary_variant=canary,
        baseline_variant=baseline,
        verdict=judgement.verdict,
        reason=judgement.reason,
        guards=tuple(GuardResult.from_outcome(g) for g in judgement.guards),
        eval_time_ns=round(at_unix_s * 1e9),
        revision=revision,
    )
