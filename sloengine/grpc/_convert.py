"""Model and evaluation results to protobuf messages (and nothing else)."""

from __future__ import annotations

from typing import Any

from sloengine.canary import CanaryVerdict
from sloengine.maths.judge import GuardOutcome
from sloengine.model import SLO, EventsSLI, NativeSLI, RawSLI
from sloengine.proto.sloengine.v1 import engine_pb2 as pb

__all__ = ["guard_to_pb", "sli_kind", "slo_info", "slo_source", "status_to_pb", "verdict_to_pb"]


def sli_kind(slo: SLO) -> str:
    """availability | latency | events | raw, as in SLOInfo.sli_kind."""
    if isinstance(slo.sli, NativeSLI):
        return slo.sli.kind
    if isinstance(slo.sli, EventsSLI):
        return "events"
    if isinstance(slo.sli, RawSLI):
        return "raw"
    raise TypeError(f"unknown SLI type {type(slo.sli).__name__}")


def slo_source(slo: SLO) -> str:
    """push (the engine's own store) | prometheus (pull mode)."""
    return "push" if isinstance(slo.sli, NativeSLI) else "prometheus"


def slo_info(slo: SLO, policy_name: str) -> pb.SLOInfo:
    return pb.SLOInfo(
        service=slo.service,
        name=slo.name,
        objective_ratio=slo.objective_ratio,
        period_seconds=int(slo.period_seconds),
        description=slo.description,
        labels=dict(slo.labels),
        sli_kind=sli_kind(slo),
        source=slo_source(slo),
        policy=policy_name,
    )


def status_to_pb(slo: SLO, policy_name: str, result: Any) -> pb.SLOStatus:
    """An evaluate.SLOStatusResult (which mirrors pb.SLOStatus field by field) as protobuf."""
    status = pb.SLOStatus(
        slo=slo_info(slo, policy_name),
        period_error_ratio=result.period_error_ratio,
        error_budget_consumed_ratio=result.error_budget_consumed_ratio,
        error_budget_remaining_ratio=result.error_budget_remaining_ratio,
        has_data=result.has_data,
    )
    status.eval_time.FromNanoseconds(round(result.eval_time_unix_s * 1e9))
    for w in result.windows:
        status.windows.add(
            window_seconds=int(w.window_seconds),
            requests=w.requests,
            errors=w.errors,
            error_ratio=w.error_ratio,
            burn_rate=w.burn_rate,
        )
    for a in result.alerts:
        status.alerts.add(
            severity=a.severity,
            short_window_seconds=int(a.short_window_seconds),
            long_window_seconds=int(a.long_window_seconds),
            factor=a.factor,
            short_burn_rate=a.short_burn_rate,
            long_burn_rate=a.long_burn_rate,
            firing=a.firing,
        )
    return status


def guard_to_pb(g: GuardOutcome) -> pb.GuardResult:
    return pb.GuardResult(
        guard=g.guard,
        verdict=pb.Verdict.Value(g.verdict.value),
        threshold=g.threshold,
        absolute_breached=g.absolute_breached,
        canary_value_short=g.canary_value_short,
        canary_value_long=g.canary_value_long,
        baseline_value_long=g.baseline_value_long,
        relative_breached=g.relative_breached,
        p_value=g.p_value,
        effect_size=g.effect_size,
        test=g.test,
        canary_samples=g.canary_samples,
        baseline_samples=g.baseline_samples,
        min_samples=g.min_samples,
        short_window_seconds=round(g.short_window_seconds),
        long_window_seconds=round(g.long_window_seconds),
        reason=g.reason,
    )


def verdict_to_pb(v: CanaryVerdict) -> pb.CanaryVerdict:
    """The canary service's verdict as `sloengine.v1.CanaryVerdict` (the wire record)."""
    msg = pb.CanaryVerdict(
        service=v.service,
        canary_variant=v.canary_variant,
        baseline_variant=v.baseline_variant,
        verdict=pb.Verdict.Value(v.verdict.value),
        reason=v.reason,
        guards=[guard_to_pb(g) for g in v.guards],
        revision=v.revision,
    )
    msg.eval_time.FromNanoseconds(v.eval_time_ns)
    return msg
