"""The domain verdict record and its two edge forms, pinned to the wire schema.

The HTTP verdict JSON is a contract (Argo Rollouts, Flagger): it was protobuf's JSON mapping
of the `CanaryVerdict` message, and `verdict_to_json` must write the very same bytes from the
domain record, for any values (zeros and empty strings move behind set fields in protobuf's
printer; -0.0 counts as set; NaN and infinities are strings; timestamps use 0/3/6/9 digits).
The gRPC message must carry every field unchanged (window lengths in whole seconds).
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format
from hypothesis import given
from hypothesis import strategies as st

from sloengine.canary import CanaryVerdict, Verdict, verdict_to_json
from sloengine.grpc import verdict_to_pb
from sloengine.maths.judge import GuardOutcome, Judgement
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.ui._canary_views import verdict_json

# Any double, with the awkward ones drawn often.
doubles = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, 0.02, 1e-300, float("nan"), float("inf"), float("-inf")]),
    st.floats(allow_nan=True, allow_infinity=True),
)
texts = st.one_of(st.just(""), st.text(max_size=12))
verdicts = st.sampled_from(list(Verdict))
# Window lengths: the judge's seconds (floats), answered rounded to whole seconds.
windows = st.one_of(
    st.sampled_from([0.0, 0.4, 0.5, 1.5, 2.5, 300.0, 3600.6]),
    st.floats(0, 30 * 86400, allow_nan=False),
)

guards = st.builds(
    GuardOutcome,
    guard=texts,
    verdict=verdicts,
    threshold=doubles,
    absolute_breached=st.booleans(),
    canary_value_short=doubles,
    canary_value_long=doubles,
    baseline_value_long=doubles,
    relative_breached=st.booleans(),
    p_value=doubles,
    effect_size=doubles,
    test=texts,
    canary_samples=doubles,
    baseline_samples=doubles,
    min_samples=doubles,
    short_window_seconds=windows,
    long_window_seconds=windows,
    reason=texts,
)
# Timestamps a protobuf Timestamp carries: 0001-01-01 to 9999-12-31, any nanosecond.
eval_times = st.one_of(
    st.sampled_from([0, 1, 1_000, 1_000_000, 1_800_000_000 * 10**9, -1, -1_500_000_001]),
    st.integers(-62_135_596_800 * 10**9, 253_402_300_799 * 10**9 + 999_999_999),
)
records = st.builds(
    CanaryVerdict,
    service=texts,
    canary_variant=texts,
    baseline_variant=texts,
    verdict=verdicts,
    reason=texts,
    guards=st.lists(guards, max_size=3).map(tuple),
    eval_time_ns=eval_times,
    revision=texts,
)


def protobuf_json(msg: pb.CanaryVerdict) -> dict[str, Any]:
    """What the side door answered when the record was the protobuf message."""
    body = json_format.MessageToDict(
        msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    body["eval_time_unix_s"] = msg.eval_time.ToNanoseconds() / 1e9
    for guard in body.get("guards", []):
        for key in ("short_window_seconds", "long_window_seconds"):
            guard[key] = int(guard[key])
    return body


@given(records)
def test_the_json_is_byte_for_byte_protobufs_mapping(v: CanaryVerdict) -> None:
    assert json.dumps(verdict_to_json(v)) == json.dumps(protobuf_json(verdict_to_pb(v)))


@given(records)
def test_the_grpc_message_carries_every_field(v: CanaryVerdict) -> None:
    msg = pb.CanaryVerdict.FromString(verdict_to_pb(v).SerializeToString())
    assert (msg.service, msg.canary_variant, msg.baseline_variant, msg.revision) == (
        v.service, v.canary_variant, v.baseline_variant, v.revision,
    )  # fmt: skip
    assert pb.Verdict.Name(msg.verdict) == v.verdict.value
    assert msg.reason == v.reason
    assert msg.eval_time.ToNanoseconds() == v.eval_time_ns
    assert len(msg.guards) == len(v.guards)
    for got, want in zip(msg.guards, v.guards, strict=True):
        assert got.short_window_seconds == round(want.short_window_seconds)
        assert got.long_window_seconds == round(want.long_window_seconds)
        assert pb.Verdict.Name(got.verdict) == want.verdict.value
        for name in ("guard", "test", "reason", "absolute_breached", "relative_breached"):
            assert getattr(got, name) == getattr(want, name)
        for name in ("threshold", "p_value", "effect_size", "canary_samples", "min_samples"):
            # Same bits (NaN included): repr tells -0.0 from 0.0 and NaN from a number.
            assert repr(getattr(got, name)) == repr(getattr(want, name))


@given(records)
def test_the_ui_shows_the_same_verdict_compacted(v: CanaryVerdict) -> None:
    page = verdict_json(v)
    body = verdict_to_json(v)
    assert (page["service"], page["canary"], page["baseline"]) == v.key
    assert page["verdict"] == body["verdict"] == v.verdict.value
    assert page["eval_time"] == body["eval_time_unix_s"]
    assert [g["guard"] for g in page["guards"]] == [g.guard for g in v.guards]
    for shown, g in zip(page["guards"], v.guards, strict=True):
        assert shown["short_window_s"] == round(g.short_window_seconds)
        p = g.p_value
        if p != p:
            assert shown["p_value"] is None  # NaN: no number
        elif p in (float("inf"), float("-inf")):
            assert shown["p_value"] == ("inf" if p > 0 else "-inf")
        else:
            assert shown["p_value"] == float(f"{p:.3g}")


def test_a_forced_verdict_keeps_the_judged_one_in_its_reason() -> None:
    from sloengine.canary import ForcedVerdict

    outcome = GuardOutcome(
        "error_ratio", Verdict.FAIL, 0.02, True, 0.1, 0.1, 0.01, True, 1e-4, 10.0,
        "msprt", 500.0, 5000.0, 0.0, 300.4, 3600.6, "canary 10% > 2%",
    )  # fmt: skip
    judged = Judgement(Verdict.FAIL, "error_ratio failed", (outcome,))
    from sloengine.canary._verdict import from_judgement

    v = from_judgement(
        judged, service="gw", canary="canary", baseline="stable", at_unix_s=1.5, revision="r2"
    )
    assert v.eval_time_ns == 1_500_000_000 and v.guards == (outcome,) and v.forced is None
    body = verdict_to_json(v)
    assert body["guards"][0]["short_window_seconds"] == 300
    assert body["guards"][0]["long_window_seconds"] == 3601
    forced = ForcedVerdict("gw", "r2", "PASS", "admin:alice", "known flake", 1.0)
    out = v.with_forced(forced)
    assert out.verdict is Verdict.PASS and out.forced is forced
    assert out.reason == "forced PASS by admin:alice: known flake (judged FAIL: error_ratio failed)"
    assert verdict_to_json(out)["verdict"] == "PASS"
