"""The canary service's verdict record: frozen, typed, no protobuf.

`CanaryCore.evaluate` returns a `CanaryVerdict`; the live verdicts, the audit log and the
rollback hooks use it, and the transports convert it at the edge (`sloengine.grpc` to the
`sloengine.v1.CanaryVerdict` message, `verdict_to_json` for HTTP and the UI). Its fields are
the wire schema's, so each conversion is a field-by-field copy. Each guard's result is the
judge's own `GuardOutcome`, kept as is (not copied: a verdict is built on every poll); the
edges answer its window lengths in whole seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sloengine.maths.judge import GuardOutcome, Judgement, Verdict

if TYPE_CHECKING:
    from sloengine.canary._overrides import ForcedVerdict

__all__ = ["CanaryVerdict", "GuardOutcome", "Verdict", "VerdictKey", "from_judgement"]

VerdictKey = tuple[str, str, str]  # (service, canary variant, baseline variant)


@dataclass(frozen=True)
class CanaryVerdict:
    """The verdict on one canary at one time, for one revision."""

    service: str
    canary_variant: str
    baseline_variant: str
    verdict: Verdict
    reason: str = ""  # one line a human understands
    guards: tuple[GuardOutcome, ...] = ()  # in the judge's order
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
        guards=tuple(judgement.guards),
        eval_time_ns=round(at_unix_s * 1e9),
        revision=revision,
    )
