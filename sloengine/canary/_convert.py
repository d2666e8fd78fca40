"""Judgements to `CanaryVerdict` messages, and messages to the HTTP side door's JSON."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from sloengine.judge import GuardOutcome, Judgement
from sloengine.proto.sloengine.v1 import engine_pb2 as pb

__all__ = ["guard_to_pb", "verdict_to_json", "verdict_to_pb"]


def guard_to_pb(o: GuardOutcome) -> pb.GuardResult:
    return pb.GuardResult(
        guard=o.guard,
        verdict=pb.Verdict.Value(o.verdict.value),
        threshold=o.threshold,
        absolute_breached=o.absolute_breached,
        canary_value_short=o.canary_value_short,
        canary_value_long=o.canary_value_long,
        baseline_value_long=o.baseline_value_long,
        relative_breached=o.relative_breached,
        p_value=o.p_value,
        effect_size=o.effect_size,
        test=o.test,
        canary_samples=o.canary_samples,
        baseline_samples=o.baseline_samples,
        min_samples=o.min_samples,
        short_window_seconds=round(o.short_window_seconds),
        long_window_seconds=round(o.long_window_seconds),
        reason=o.reason,
    )


def verdict_to_pb(
    judgement: Judgement,
    *,
    service: str,
    canary: str,
    baseline: str,
    at_unix_s: float,
    revision: str,
) -> pb.CanaryVerdict:
    msg = pb.CanaryVerdict(
        service=service,
        canary_variant=canary,
        baseline_variant=baseline,
        verdict=pb.Verdict.Value(judgement.verdict.value),
        reason=judgement.reason,
        guards=[guard_to_pb(g) for g in judgement.guards],
        revision=revision,
    )
    msg.eval_time.FromNanoseconds(round(at_unix_s * 1e9))
    return msg


def verdict_to_json(msg: pb.CanaryVerdict) -> dict[str, Any]:
    """The verdict as JSON for Argo Rollouts' `web` metric: `result.verdict` is the string."""
    body = json_format.MessageToDict(
        msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    body["eval_time_unix_s"] = msg.eval_time.ToNanoseconds() / 1e9
    # Proto3 JSON writes int64 as strings; window lengths read better as numbers.
    for guard in body.get("guards", []):
        for key in ("short_window_seconds", "long_window_seconds"):
            guard[key] = int(guard[key])
    return body
