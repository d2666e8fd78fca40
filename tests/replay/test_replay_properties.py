"""Generated timelines: at every step the replay's burn rates, budget and firing alerts equal
the engine's `evaluate_slo` on a store fed the same pushes (hypothesis shrinks a failure
to the smallest timeline that shows it)."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sloengine import conventions as c
from sloengine.model import SLO, NativeSLI
from sloengine.specs.policy import builtin_policy
from tests.agreement.harness import BASE_UNIX_S, engine_statuses, firing
from tests.agreement.traffic import Counts, Phase, Series, Timeline
from tests.replay.agreement import firing_at, replay_timeline

A = Series("svc", c.VARIANT_STABLE, "/a", "GET")
B = Series("svc", c.VARIANT_CANARY, "/b", "POST", has_histogram=False)
SELECTOR = (("service", "svc"),)
SLOS = (
    SLO("svc", "availability", 0.99, NativeSLI("availability", SELECTOR)),
    SLO("svc", "latency", 0.95, NativeSLI("latency", SELECTOR, 0.5)),
    SLO("svc", "a-minutes", 0.9, NativeSLI("availability", (("route", "/a"),)),
        budgeting_method="Timeslices", timeslice_target_ratio=0.9, timeslice_window_seconds=60),
)  # fmt: skip


@st.composite
def counts(draw: st.DrawFn) -> Counts:
    ok = draw(st.integers(0, 60))
    server = draw(st.integers(0, 15))
    client = draw(st.integers(0, 5))
    slow = draw(st.integers(0, ok + server + client))
    return Counts(ok=ok, client_errors=client, server_errors=server, slow=slow)


@st.composite
def timelines(draw: st.DrawFn) -> Timeline:
    phases = []
    for i in range(draw(st.integers(1, 5))):
        active = draw(st.sampled_from([(A,), (B,), (A, B), ()]))  # () : no traffic at all
        phases.append(Phase(f"p{i}", draw(st.integers(1, 25)), {s: draw(counts()) for s in active}))
    return Timeline(series=(A, B), phases=tuple(phases))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timeline=timelines())
def test_replay_equals_the_engine_on_generated_timelines(timeline: Timeline) -> None:
    policy = builtin_policy("fast-slow")
    result = replay_timeline(SLOS, policy, timeline)
    statuses = engine_statuses(SLOS, policy, timeline)
    for i, replay in enumerate(result.slos):
        for step, sts in statuses.items():
            st_, k = sts[i], step - 1
            t = BASE_UNIX_S + step * timeline.step_seconds
            assert firing_at(replay, t) == firing(st_), (replay.slo.id, step)
            for w in st_.windows:
                got = replay.chart.burn_rates[w.window_seconds][k]
                assert math.isclose(got, w.burn_rate, rel_tol=1e-12, abs_tol=1e-12), (step, w)
            assert math.isclose(
                replay.chart.budget_remaining[k],
                st_.error_budget_remaining_ratio,
                rel_tol=1e-12,
                abs_tol=1e-12,
            )
