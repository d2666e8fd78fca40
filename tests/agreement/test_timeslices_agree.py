"""Timeslices and RatioTimeslices: the engine's slice ledger and the generated slice rules
count the same good and bad minutes, burn rates, budget and alert steps (promtool).

One timeline on 1-minute samples and 1-minute slices, under the fast-slow policy (5m/1h,
page 10x, ticket 2x) and 99% objectives:
- Timeslices availability (a minute is good when >= 95% of its requests succeed);
- RatioTimeslices latency, loaded from an OpenSLO spec (the objective is on the mean of the
  minutes' success ratios), so a quiet minute weighs as much as a busy one.
Phases: healthy (0.7% errors), 3 bad minutes (11%), healthy, 12 quiet bad minutes (14 of
30 requests fail: 46.7%), 15 minutes without traffic (good minutes), healthy again. No
window's ratio lands on a threshold (see test_engine_rules_agree.py on ties).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from sloengine import conventions as c
from sloengine.engine.evaluate import evaluate_slo
from sloengine.ingest import decode_push
from sloengine.maths import burn
from sloengine.model import SLO, NativeSLI
from sloengine.specs import load_catalog
from sloengine.specs.policy import builtin_policy
from sloengine.store import SeriesStore
from tests.agreement.harness import BASE_UNIX_S, engine_statuses, firing, promtool_agreement
from tests.agreement.traffic import Counts, Phase, Series, Timeline, push_requests

API = Series("shop", c.VARIANT_STABLE, "/api", "GET")
HEALTHY = {API: Counts(ok=993, server_errors=7, slow=7)}
BAD = {API: Counts(ok=890, server_errors=110, slow=110)}
QUIET_BAD = {API: Counts(ok=16, server_errors=14, slow=14)}
TIMELINE = Timeline(
    series=(API,),
    phases=(
        Phase("healthy", 30, HEALTHY),
        Phase("bad minutes", 3, BAD),
        Phase("healthy again", 10, HEALTHY),
        Phase("quiet and bad", 12, QUIET_BAD),
        Phase("no traffic", 15, {}),
        Phase("recovery", 20, HEALTHY),
    ),
)
POLICY = builtin_policy("fast-slow")

AVAILABILITY = SLO(
    service="shop",
    name="minutes",
    objective_ratio=0.99,
    sli=NativeSLI("availability", (("service", "shop"),)),
    budgeting_method="Timeslices",
    timeslice_target_ratio=0.95,
    timeslice_window_seconds=60,
    policy=POLICY.name,
)

OPENSLO = """apiVersion: openslo/v1
kind: SLO
metadata: {name: latency-minutes}
spec:
  service: shop
  indicator:
    spec:
      thresholdMetric:
        metricSource:
          type: Prometheus
          spec: {query: 'http_request_duration_seconds{service="shop"}'}
  timeWindow: [{duration: 30d, isRolling: true}]
  budgetingMethod: RatioTimeslices
  objectives: [{op: lte, value: 0.5, target: 0.99, timeSliceWindow: 1m}]
"""


def _slos(tmp_path: Path) -> tuple[SLO, ...]:
    spec = tmp_path / "latency.yaml"
    spec.write_text(OPENSLO)
    (latency,) = load_catalog([spec], default_policy=POLICY.name).slos
    assert isinstance(latency.sli, NativeSLI) and latency.budgeting_method == "RatioTimeslices"
    return AVAILABILITY, latency


@pytest.mark.integration
def test_slices_agree_with_the_generated_rules(tmp_path: Path) -> None:
    slos = _slos(tmp_path)
    statuses = engine_statuses(slos, POLICY, TIMELINE)
    # Timeslices: 3 bad minutes of 5 tickets (0.6 > 0.02) but the hour (3/60) does not page;
    # with the 12 quiet bad minutes the hour holds 15/60 bad minutes: page.
    assert firing(statuses[33][0]) == ("ticket",)
    assert firing(statuses[55][0]) == ("page", "ticket")
    # RatioTimeslices: quiet minutes at 46.7% slow weigh as much as busy ones: page, where
    # counting requests (12 x 14 of ~43,000) would not even ticket.
    assert firing(statuses[55][1]) == ("page", "ticket")
    # Minutes without traffic are good minutes, not missing ones.
    period = statuses[70][0].window(AVAILABILITY.period_seconds)
    assert period is not None and period.errors == 15 and period.requests == 43200
    failures = promtool_agreement(tmp_path, slos, POLICY, TIMELINE, statuses, parts=("windows",))
    assert not failures, "\n".join(failures)


def test_budget_is_bad_minutes_over_the_period_minutes() -> None:
    store = SeriesStore()
    steps = 40
    at = BASE_UNIX_S + steps * 60
    req = push_requests(TIMELINE, BASE_UNIX_S, 1, steps, sequence=1)
    store.apply(decode_push(req, now_s=at, max_age_s=store.retention_seconds, max_future_s=0))
    status = evaluate_slo(AVAILABILITY, POLICY, store, at)
    bad_share = 3 / 43200
    assert status.period_error_ratio == pytest.approx(bad_share, rel=1e-12)
    assert status.error_budget_consumed_ratio == pytest.approx(
        burn.burn_rate(bad_share, 0.99), rel=1e-12
    )
    hour = status.window(3600)
    assert hour is not None and (hour.requests, hour.errors) == (60, 3)


@pytest.mark.integration
def test_counting_requests_instead_of_minutes_fails_promtool(tmp_path: Path) -> None:
    # The harness can tell: the engine's Occurrences numbers against the slice rules.
    as_events = (dataclasses.replace(AVAILABILITY, budgeting_method="Occurrences"),)
    wrong = engine_statuses(as_events, POLICY, TIMELINE)
    failures = promtool_agreement(
        tmp_path, (AVAILABILITY,), POLICY, TIMELINE, wrong, parts=("windows",)
    )
    assert failures and "slo:sli_error:ratio_rate" in failures[0]
