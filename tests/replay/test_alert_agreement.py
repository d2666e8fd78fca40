"""A replay's alerts fire and resolve at exactly the minutes Prometheus' own evaluation of the
generated rules does, and its numbers are the engine's `evaluate_slo` numbers, step by step.

The timelines are the agreement suite's (tests/agreement): the demo catalog's gateway SLOs
(availability 99.9%, /search latency 99% under 0.5 s) through healthy traffic, a slow burn,
a fast burn, 75 minutes without any traffic and a recovery; and the demo policy's windows of
seconds on 10-second steps, with and without a traffic pause. Policies: the sprint's
fast-slow, the demo's, and a four-window table of the Workbook's shape; Timeslices and
RatioTimeslices budgeting as well as events.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from sloengine.model import SLO, BurnRatePolicy, NativeSLI
from sloengine.specs.policy import builtin_policy, load_policy_file, parse_policy
from tests.agreement.harness import BASE_UNIX_S, engine_statuses, firing
from tests.agreement.test_engine_rules_agree import (
    DEMO_HEALTHY,
    DEMO_POLICY,
    DEMO_TIMELINE,
    GATEWAY_TIMELINE,
    _demo_slos,
    _gateway_slos,
)
from tests.agreement.test_spec_features_agree import LATENCY_TIMELINE
from tests.agreement.test_timeslices_agree import AVAILABILITY as SLICES_AVAILABILITY
from tests.agreement.test_timeslices_agree import TIMELINE as SLICES_TIMELINE
from tests.agreement.traffic import Phase, Timeline
from tests.replay.agreement import firing_at, promtool_alert_agreement, replay_timeline

# Four window pairs like the Workbook's table, shrunk to fit the 5.5-hour timeline; factors
# chosen so that no window mixing the timeline's phases lands exactly on a threshold.
FOUR_WINDOWS = parse_policy(
    yaml.safe_load(
        """
apiVersion: sloengine/v1
kind: BurnRatePolicy
metadata: {name: four-windows}
spec:
  period: 30d
  windows:
    - {severity: page, shortWindow: 5m, longWindow: 1h, factor: 14.4}
    - {severity: page, shortWindow: 30m, longWindow: 2h, factor: 4.7}
    - {severity: ticket, shortWindow: 1h, longWindow: 3h, factor: 2.3}
    - {severity: ticket, shortWindow: 2h, longWindow: 5h, factor: 0.9}
"""
    ),
    "<test>/four-windows.yaml",
)

PAUSE_TIMELINE = Timeline(
    series=DEMO_TIMELINE.series,
    step_seconds=10,
    phases=(*DEMO_TIMELINE.phases[:2], Phase("no traffic", 40, {}), DEMO_TIMELINE.phases[2]),
)

CASES = {
    "fast-slow": (_gateway_slos, lambda: builtin_policy("fast-slow"), GATEWAY_TIMELINE),
    "four-windows": (_gateway_slos, lambda: FOUR_WINDOWS, GATEWAY_TIMELINE),
    "demo-fast": (_demo_slos, lambda: load_policy_file(DEMO_POLICY), DEMO_TIMELINE),
    "demo-fast-pause": (_demo_slos, lambda: load_policy_file(DEMO_POLICY), PAUSE_TIMELINE),
    # /legacy sends no histogram: no latency data, left out of the latency SLI, not slow.
    "no-latency-data": (
        lambda: (SLO("shop", "latency", 0.99, NativeSLI("latency", (("service", "shop"),), 0.5)),),
        lambda: builtin_policy("fast-slow"),
        LATENCY_TIMELINE,
    ),
    # Timeslices (bad minutes) and RatioTimeslices (mean minute ratio), with quiet bad
    # minutes and minutes without traffic (tests/agreement/test_timeslices_agree.py).
    "timeslices": (
        lambda: (
            SLICES_AVAILABILITY,
            SLO(
                "shop",
                "latency-minutes",
                0.99,
                NativeSLI("latency", (("service", "shop"),), 0.5),
                budgeting_method="RatioTimeslices",
                timeslice_window_seconds=60,
            ),
        ),
        lambda: builtin_policy("fast-slow"),
        SLICES_TIMELINE,
    ),
    "healthy-then-silent": (
        _demo_slos,
        lambda: load_policy_file(DEMO_POLICY),
        Timeline(DEMO_TIMELINE.series, (DEMO_HEALTHY, Phase("no traffic", 40, {})), 10),
    ),
}


def _case(name: str) -> tuple[tuple[SLO, ...], BurnRatePolicy, Timeline]:
    slos, policy, timeline = CASES[name]
    return slos(), policy(), timeline


# The store answers windows longer than its 1-minute level (2 h 16 min) with a far edge
# rounded to 10-minute slots (docs/store.md), so the engine is compared on the cases whose
# windows all fit; the four-window policy's 3h and 5h windows are checked against promtool,
# which, like the replay, sums exactly `(t - w, t]`.
ENGINE_CASES = sorted(set(CASES) - {"four-windows"})


@pytest.mark.parametrize("name", ENGINE_CASES)
def test_replay_equals_the_engine_at_every_step(name: str) -> None:
    slos, policy, timeline = _case(name)
    result = replay_timeline(slos, policy, timeline)
    statuses = engine_statuses(slos, policy, timeline)
    assert len(result.slos) == len(slos)
    for i, replay in enumerate(result.slos):
        assert replay.chart.times_s[0] == BASE_UNIX_S + timeline.step_seconds
        assert len(replay.chart.times_s) == timeline.steps  # one point per step, not pooled
        for step, sts in statuses.items():
            st, k = sts[i], step - 1
            t = BASE_UNIX_S + step * timeline.step_seconds
            assert firing_at(replay, t) == firing(st), (replay.slo.id, step)
            for w in st.windows:
                got = replay.chart.burn_rates[w.window_seconds][k]
                assert math.isclose(got, w.burn_rate, rel_tol=1e-12, abs_tol=1e-12), (step, w)
            assert math.isclose(
                replay.chart.budget_remaining[k], st.error_budget_remaining_ratio, rel_tol=1e-12
            )


def test_the_timelines_reach_every_alert_state() -> None:
    # Not vacuous: quiet, ticket-only and paging steps, and alerts that resolve.
    for name in ("fast-slow", "four-windows", "demo-fast"):
        slos, policy, timeline = _case(name)
        result = replay_timeline(slos, policy, timeline)
        severities = {a.severity for r in result.slos for a in r.alerts}
        assert severities == {"page", "ticket"}, name
        assert any(a.resolved_at_s is not None for r in result.slos for a in r.alerts), name
    slos, policy, timeline = _case("healthy-then-silent")
    assert all(not r.alerts for r in replay_timeline(slos, policy, timeline).slos)


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(CASES))
def test_every_alert_fires_and_resolves_when_prometheus_says(name: str, tmp_path: Path) -> None:
    slos, policy, timeline = _case(name)
    result = replay_timeline(slos, policy, timeline)
    failures = promtool_alert_agreement(tmp_path, slos, policy, timeline, result)
    assert not failures, "\n".join(failures)


@pytest.mark.integration
def test_a_wrong_replay_fails_promtool(tmp_path: Path) -> None:
    # The check can fail: shift every alert of the replay one step later.
    import dataclasses

    slos, policy, timeline = _case("fast-slow")
    result = replay_timeline(slos, policy, timeline)
    shifted = tuple(
        dataclasses.replace(
            r,
            alerts=tuple(
                dataclasses.replace(a, fired_at_s=a.fired_at_s + timeline.step_seconds)
                for a in r.alerts
            ),
        )
        for r in result.slos
    )
    failures = promtool_alert_agreement(
        tmp_path, slos, policy, timeline, dataclasses.replace(result, slos=shifted)
    )
    assert failures and "alertname: SLOErrorBudgetBurn" in failures[0]
