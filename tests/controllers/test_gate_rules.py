"""Flagger gate answers, for every gate, verdict and traffic state, against what Flagger's
scheduler does with them (success = status <= 202)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sloengine.canary._http import GO_GATES, ROLLBACK_GATE, gate_status
from sloengine.proto.sloengine.v1 import engine_pb2 as pb

VERDICTS = (pb.PASS, pb.FAIL, pb.INCONCLUSIVE)


def verdict(v: int, canary_samples: int) -> pb.CanaryVerdict:
    guard = pb.GuardResult(guard="error_ratio", verdict=v, canary_samples=canary_samples)
    return pb.CanaryVerdict(service="gateway", verdict=v, guards=[guard])


@given(
    st.sampled_from((*GO_GATES, ROLLBACK_GATE)),
    st.sampled_from(VERDICTS),
    st.integers(0, 10_000),
    st.booleans(),
    st.booleans(),
)
def test_gate_answers_fit_flagger(
    gate: str, v: int, samples: int, paused: bool, forced: bool
) -> None:
    status = gate_status(gate, verdict(v, samples), rollback_paused=paused, forced=forced)
    go = status <= 202
    assert status in (200, 202, 412, 425)
    if gate == ROLLBACK_GATE:
        assert go == (v == pb.FAIL and not paused)  # 2xx rolls back at once
    elif gate in ("pre-rollout", "confirm-rollout"):
        assert go == (not (v == pb.FAIL and forced))  # no canary data exists yet
    elif gate == "rollout":
        assert go == (v != pb.FAIL)  # INCONCLUSIVE is not a failed check
    elif gate == "confirm-promotion":
        assert go == (v == pb.PASS)  # promotion always needs evidence
    else:  # confirm-traffic-increase: PASS, or the first step of a canary that served nothing
        assert go == (v == pb.PASS or (v == pb.INCONCLUSIVE and samples == 0))
    if v == pb.INCONCLUSIVE and not go and gate != ROLLBACK_GATE:
        assert status == 425  # a wait, never a 5xx/429 that Flagger's client would retry
