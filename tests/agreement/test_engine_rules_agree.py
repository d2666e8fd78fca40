"""The engine's burn-rate evaluation and the generated Prometheus rules agree on the same data.

One synthetic timeline of RED traffic for the demo catalog's `gateway` service (several
variants and routes, 2xx/4xx/5xx, fast and slow requests) goes two ways:

- engine: `PushRequest`s -> `decode_push` -> `SeriesStore`, then `evaluate_slo` after
  every minute's batch for the availability (99.9%) and latency (99% under 0.5 s) SLOs under the
  `fast-slow` policy (5m/1h windows, page at 10x, ticket at 2x, 30d period);
- Prometheus: the same counts as cumulative `http_requests_total{...,status}` and
  `http_request_duration_seconds_{bucket,count}` counters sampled every minute, the rules
  `render_alert_files` generates for the same SLOs and policy, and `promtool test rules`
  with the engine's numbers as the expected samples and the engine's firing alerts as the
  expected alerts.

Phases: healthy (0.5x burn), a slow burn (6x: ticket only), a fast burn (30.5x: page),
75 minutes without traffic, and a recovery with no errors at all. A second scenario runs the
demo policy's 30s/1m/2m/5m windows on 10-second samples. The machinery is in `harness.py`;
docs/agreement.md summarises what agrees and the disagreements pinned by the strict xfails.

Known differences, and why this timeline sidesteps them rather than tolerating them:
- `rate()` extrapolates when the first/last sample of a range is not at the range's edges;
  the store sums exactly the samples in `(t - w, t]`. Samples every minute on the minute
  and evaluations on the minute put samples exactly on both edges of every range, and the
  counters start at 0 at minute 0, where Prometheus clamps the extrapolation to zero: both
  sides are exact, even while the 1h window is still filling.
- The store counts a sample in the 10 s bucket containing its timestamp and reads windows
  `(t - w, t]` with `t` rounded down to 10 s: `GetStatus` sees only closed buckets, so a
  sample in the current, unfinished 10 s shows up at the next boundary. Every sample and
  evaluation time here is a whole minute, so the rounding never moves anything.
- Without traffic the engine reports a window's ratio and burn rate as 0 with
  `requests == 0`; the rules record no sample (never NaN). The test maps one onto the other.
- The period ratio is recorded by a group evaluated every 5m from 5m event counts, so it is
  compared at 5-minute evaluation times only, in a promtool file evaluated every 5m:
  promtool 2.42 runs every group at the file's `evaluation_interval`, ignoring the group's
  own `interval`, and 5m increases recorded every minute overlap.
- Thresholds: the engine compares against `factor * (1 - objective)` in float
  (`1 - 0.999 = 0.0010000000000000009`), the rules against `10 * 0.001` printed with 12
  digits, and a latency ratio is `1 - good / total` in PromQL but exact counts in the engine.
  A window whose ratio is exactly `factor * budget` can therefore fire on one side only
  (`test_a_ratio_exactly_at_the_threshold_fires_on_neither_side` pins one such case). The per-minute
  counts here are chosen so that no window of any phase mix (healthy/slow/fast/idle) lands
  exactly on a threshold: e.g. 12 and 61 errors a minute instead of 10 and 60.
Values are compared with a relative tolerance of 1e-9 inside the PromQL expression
(`abs(record - engine) <= bool tol`), so a missing sample and a wrong value both fail.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from sloengine import conventions as c
from sloengine.model import SLO
from sloengine.specs import load_catalog
from sloengine.specs.policy import builtin_policy, load_policy_file
from tests.agreement.harness import Statuses, engine_statuses, firing, promtool_agreement
from tests.agreement.traffic import Counts, Phase, Series, Timeline

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "examples" / "slos" / "demo-services.yaml"
DEMO_POLICY = ROOT / "examples" / "demo" / "demo-policy.yaml"
SERVICE = "gateway"

SEARCH = Series(SERVICE, c.VARIANT_STABLE, "/search", "GET")
SEARCH_CANARY = Series(SERVICE, c.VARIANT_CANARY, "/search", "GET")
HEALTH = Series(SERVICE, c.VARIANT_STABLE, "/health", "GET", has_error_series=False)
DOCS = Series(SERVICE, c.VARIANT_STABLE, "/docs", "POST")

# Gateway: 2,000 requests a minute; /search (stable + canary): 1,200 of them.
GATEWAY_TIMELINE = Timeline(
    series=(SEARCH, SEARCH_CANARY, HEALTH, DOCS),
    phases=(
        # 1/2000 = 0.05% errors (0.5x), 6/1200 = 0.5% slow (0.5x).
        Phase(
            "healthy",
            75,
            {
                SEARCH: Counts(ok=974, client_errors=25, server_errors=1, slow=5),
                SEARCH_CANARY: Counts(ok=200, slow=1),
                HEALTH: Counts(ok=600),
                DOCS: Counts(ok=195, client_errors=5),
            },
        ),
        # 12/2000 = 0.6% (6x), 37/1200 = 3.08% (3.08x): above the ticket factor only.
        Phase(
            "slow burn",
            60,
            {
                SEARCH: Counts(ok=965, client_errors=25, server_errors=10, slow=31),
                SEARCH_CANARY: Counts(ok=198, server_errors=2, slow=6),
                HEALTH: Counts(ok=600),
                DOCS: Counts(ok=195, client_errors=5),
            },
        ),
        # 61/2000 = 3.05% (30.5x), 180/1200 = 15% (15x): above the page factor.
        Phase(
            "fast burn",
            45,
            {
                SEARCH: Counts(ok=934, client_errors=25, server_errors=41, slow=150),
                SEARCH_CANARY: Counts(ok=180, server_errors=20, slow=30),
                HEALTH: Counts(ok=600),
                DOCS: Counts(ok=195, client_errors=5),
            },
        ),
        Phase("no traffic", 75, {}),
        # Half the traffic, no 5xx at all (a ratio of exactly 0), 3/600 slow.
        Phase(
            "recovery",
            75,
            {
                SEARCH: Counts(ok=490, client_errors=10, slow=3),
                SEARCH_CANARY: Counts(ok=100),
                HEALTH: Counts(ok=300),
                DOCS: Counts(ok=100),
            },
        ),
    ),
)


def _gateway_slos() -> tuple[SLO, ...]:
    """The demo catalog's gateway SLOs: availability 99.9% and /search latency 99% < 0.5 s."""
    return tuple(s for s in load_catalog([str(CATALOG)]).slos if s.service == SERVICE)


@pytest.fixture(scope="module")
def gateway_statuses() -> Statuses:
    return engine_statuses(_gateway_slos(), builtin_policy("fast-slow"), GATEWAY_TIMELINE)


def test_the_timeline_reaches_every_alert_state(gateway_statuses: Statuses) -> None:
    # Not vacuous: the engine sees quiet, ticket-only and paging steps for both SLOs,
    # steps without traffic in either window, and never a NaN.
    for i in range(2):
        states = {firing(sts[i]) for sts in gateway_statuses.values()}
        assert states == {(), ("ticket",), ("page", "ticket")}, states
    for seconds in (300, 3600):
        assert any(sts[0].window(seconds).requests == 0 for sts in gateway_statuses.values())  # type: ignore[union-attr]
    for sts in gateway_statuses.values():
        assert all(math.isfinite(w.error_ratio) for st in sts for w in st.windows)


@pytest.mark.integration
def test_engine_and_generated_rules_agree_every_minute(
    gateway_statuses: Statuses, tmp_path: Path
) -> None:
    failures = promtool_agreement(
        tmp_path, _gateway_slos(), builtin_policy("fast-slow"), GATEWAY_TIMELINE, gateway_statuses
    )
    assert not failures, "\n".join(failures)


@pytest.mark.integration
def test_a_wrong_expectation_fails_promtool(tmp_path: Path) -> None:
    # The harness can fail: expectations from one more 5xx a minute during the fast burn.
    burn = GATEWAY_TIMELINE.phases[2]
    more = dataclasses.replace(
        burn,
        counts={**burn.counts, DOCS: Counts(ok=194, client_errors=5, server_errors=1)},
    )
    phases = (*GATEWAY_TIMELINE.phases[:2], more, *GATEWAY_TIMELINE.phases[3:])
    wrong = engine_statuses(
        _gateway_slos(),
        builtin_policy("fast-slow"),
        dataclasses.replace(GATEWAY_TIMELINE, phases=phases),
    )
    failures = promtool_agreement(
        tmp_path,
        _gateway_slos(),
        builtin_policy("fast-slow"),
        GATEWAY_TIMELINE,
        wrong,
        parts=("windows",),
    )
    assert failures and "slo:sli_error:ratio_rate1h" in failures[0]


# The demo's policy (30s/2m page at 10x, 1m/5m ticket at 2x) on 10-second samples:
# 200 requests per step on the gateway, 120 of them on /search.
DEMO_HEALTHY = Phase(
    "healthy",
    60,
    {SEARCH: Counts(ok=120), HEALTH: Counts(ok=60), DOCS: Counts(ok=18, client_errors=2)},
)
DEMO_TIMELINE = Timeline(
    series=(SEARCH, HEALTH, DOCS),
    step_seconds=10,
    phases=(
        DEMO_HEALTHY,
        # 7/200 = 3.5% errors, 13/120 = 10.8% slow; recovery 0% and 2/120 slow: no window
        # (3, 6, 12 or 30 steps) mixing two phases lands exactly on a threshold.
        Phase(
            "burn",
            30,
            {
                SEARCH: Counts(ok=113, server_errors=7, slow=13),
                HEALTH: Counts(ok=60),
                DOCS: Counts(ok=18, client_errors=2),
            },
        ),
        Phase(
            "recovery",
            40,
            {SEARCH: Counts(ok=120, slow=2), HEALTH: Counts(ok=60), DOCS: Counts(ok=20)},
        ),
    ),
)


def _demo_slos() -> tuple[SLO, ...]:
    policy = load_policy_file(DEMO_POLICY)
    return tuple(dataclasses.replace(s, policy=policy.name) for s in _gateway_slos())


@pytest.mark.integration
def test_the_demo_policy_agrees_on_windows_of_seconds(tmp_path: Path) -> None:
    policy = load_policy_file(DEMO_POLICY)
    statuses = engine_statuses(_demo_slos(), policy, DEMO_TIMELINE)
    assert {firing(sts[1]) for sts in statuses.values()} == {(), ("ticket",), ("page", "ticket")}
    failures = promtool_agreement(tmp_path, _demo_slos(), policy, DEMO_TIMELINE, statuses)
    assert not failures, "\n".join(failures)


@pytest.mark.integration
def test_a_traffic_pause_does_not_page_a_healthy_latency_slo(tmp_path: Path) -> None:
    # Ten healthy minutes (not one slow request, not one error), then silence.
    policy = load_policy_file(DEMO_POLICY)
    timeline = dataclasses.replace(
        DEMO_TIMELINE, phases=(DEMO_HEALTHY, Phase("no traffic", 40, {}))
    )
    statuses = engine_statuses(_demo_slos(), policy, timeline)
    assert all(firing(st) == () for sts in statuses.values() for st in sts)
    failures = promtool_agreement(
        tmp_path, _demo_slos(), policy, timeline, statuses, parts=("windows",)
    )
    assert not failures, "\n".join(failures)


@pytest.mark.integration
def test_the_period_ratio_covers_exactly_the_period(tmp_path: Path) -> None:
    # A 2h period, so that it rolls within the 5.5 hours of the timeline.
    slos = tuple(dataclasses.replace(s, period_seconds=7200) for s in _gateway_slos())
    policy = builtin_policy("fast-slow")
    statuses = engine_statuses(slos, policy, GATEWAY_TIMELINE)
    failures = promtool_agreement(
        tmp_path, slos, policy, GATEWAY_TIMELINE, statuses, parts=("period",)
    )
    assert not failures, "\n".join(failures)


@pytest.mark.integration
@pytest.mark.xfail(
    strict=True,
    reason=(
        "float rounding at an exact threshold: at minute 66 the 1h window holds exactly 2% "
        "slow requests (1440 of 72000; the ticket threshold is 2 x 1%) and the 5m window 3%; "
        "the rules' 1h ratio `1 - sum(rate(good)) / sum(rate(total))` rounds to "
        "0.02 + 1.3e-16 > (2 * 0.01) and tickets, while the engine's 1440/72000 = 0.02 is not above "
        "2 * (1 - 0.99): `>` on a ratio equal to factor * budget is decided by rounding"
    ),
)
def test_a_ratio_exactly_at_the_threshold_fires_on_neither_side(tmp_path: Path) -> None:
    latency = tuple(s for s in _gateway_slos() if s.name == "search-latency")
    # 1h window at minute 66: 24 minutes at 0.5% slow and 36 at 3% = exactly 2%, over the
    # two /search series (Prometheus sums their rates, which sets the rounding).
    timeline = Timeline(
        series=(SEARCH, SEARCH_CANARY),
        phases=(
            Phase(
                "0.5% slow",
                30,
                {SEARCH: Counts(ok=1000, slow=5), SEARCH_CANARY: Counts(ok=200, slow=1)},
            ),
            Phase(
                "3% slow",
                36,
                {SEARCH: Counts(ok=1000, slow=30), SEARCH_CANARY: Counts(ok=200, slow=6)},
            ),
        ),
    )
    policy = builtin_policy("fast-slow")
    statuses = engine_statuses(latency, policy, timeline)
    assert all(firing(sts[0]) == () for sts in statuses.values())
    failures = promtool_agreement(tmp_path, latency, policy, timeline, statuses, parts=("windows",))
    assert not failures, "\n".join(failures)
