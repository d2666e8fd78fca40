"""Flagger gate answers, for every gate, verdict and traffic state, against what Flagger's
scheduler does with them (success = status <= 202)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sloengine.canary import CanaryVerdict, Verdict
from sloengine.http.canary import GO_GATES, ROLLBACK_GATE, gate_status
from sloengine.maths.judge import GuardOutcome

VERDICTS = (Verdict.PASS, Verdict.FAIL, Verdict.INCONCLUSIVE)


def verdict(v: Verdict, canary_samples: int) -> CanaryVerdict:
    guard = GuardOutcome(
        "error_ratio", v, 0.02, False, 0.0, 0.0, 0.0, False, 0.0, 0.0, "msprt",
        float(canary_samples), 0.0, 0.0, 300.0, 3600.0, "",
    )  # fmt: skip
    return CanaryVerdict("gateway", "canary", "baseline", verdict=v, guards=(guard,))


@given(
    st.sampled_from((*GO_GATES, ROLLBACK_GATE)),
    st.sampled_from(VERDICTS),
    st.integers(0, 10_000),
    st.booleans(),
    st.booleans(),
)
def test_gate_answers_fit_flagger(
    gate: str, v: Verdict, samples: int, paused: bool, forced: bool
) -> None:
    status = gate_status(gate, verdict(v, samples), rollback_paused=paused, forced=forced)
    go = status <= 202
    assert status in (200, 202, 412, 425)
    if gate == ROLLBACK_GATE:
        assert go == (v == Verdict.FAIL and not paused)  # 2xx rolls back at once
    elif gate in ("pre-rollout", "confirm-rollout"):
        assert go == (not (v == Verdict.FAIL and forced))  # no canary data exists yet
    elif gate == "rollout":
        assert go == (v != Verdict.FAIL)  # INCONCLUSIVE is not a failed check
    elif gate == "confirm-promotion":
        assert go == (v == Verdict.PASS)  # promotion always needs evidence
    else:  # confirm-traffic-increase: PASS, or the first step of a canary that served nothing
        assert go == (v == Verdict.PASS or (v == Verdict.INCONCLUSIVE and samples == 0))
    if v == Verdict.INCONCLUSIVE and not go and gate != ROLLBACK_GATE:
        assert status == 425  # a wait, never a 5xx/429 that Flagger's client would retry
