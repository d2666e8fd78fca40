"""The engine's burn-rate evaluation and the generated Prometheus rules agree on the same data.

One synthetic timeline of RED traffic for the demo catalog's `gateway` service (several
variants and routes, 2xx/4xx/5xx, fast and slow requests) goes two ways:

- engine: `PushRequest`s -> `decode_push` -> `SeriesStore`, then `evaluate_slo` every 5
  minutes for the availability (99.9%) and latency (99% under 0.5 s) SLOs under the
  `fast-slow` policy (5m/1h windows, page at 10x, ticket at 2x, 30d period);
- Prometheus: the same counts as cumulative `http_requests_total{...,status}` and
  `http_request_duration_seconds_{bucket,count}` counters sampled every minute, the rules
  `render_alert_files` generates for the same SLOs and policy, and `promtool test rules`
  with the engine's numbers as the expected samples and the engine's firing alerts as the
  expected alerts.

Phases: healthy (0.5x burn), a slow burn (5x: ticket only), a fast burn (30x: page),
75 minutes without traffic, and a recovery with no errors at all.

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
  compared at 5-minute evaluation times only (the ones used here).
- Thresholds: the engine compares against `factor * (1 - objective)` in float
  (`1 - 0.999 = 0.0010000000000000009`), the rules against `10 * 0.001` printed with 12
  digits, and a latency ratio is `1 - good / total` in PromQL but exact counts in the engine.
  A window whose ratio is exactly `factor * budget` can therefore fire on one side only
  (`test_a_ratio_exactly_at_the_threshold_...` below pins one such case). The per-minute
  counts here are chosen so that no window of any phase mix (healthy/slow/fast/idle) lands
  exactly on a threshold: e.g. 12 and 61 errors a minute instead of 10 and 60.
Values are compared with a relative tolerance of 1e-9 inside the PromQL expression
(`abs(record - engine) <= bool tol`), so a missing sample and a wrong value both fail.
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from sloengine import conventions as c
from sloengine.evaluate import SLOStatusResult, evaluate_slo
from sloengine.generate import GenerateOptions, render_alert_files, rules_filename
from sloengine.generate.rules import ERROR_EVENTS_RECORD_PREFIX, TOTAL_EVENTS_RECORD_PREFIX
from sloengine.model import SLO, BurnRatePolicy, Catalog
from sloengine.policy import builtin_policy
from sloengine.specs import load_catalog
from sloengine.store import SeriesStore, decode_push
from tests.agreement.traffic import Minute, Phase, Series, Timeline, input_series, push_requests
from tests.support.prometheus import PROMTOOL_BIN

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "examples" / "slos" / "demo-services.yaml"
POLICY = "fast-slow"
SERVICE = "gateway"
# A whole day in unix time: aligned with every ring resolution of the store (10 s ... 6 h).
BASE_UNIX_S = 1_700_006_400
# The period group runs every 5m in Prometheus; promtool 2.42 runs every group at the
# file's evaluation_interval, so the period is checked in a file evaluated every 5m.
PERIOD_STEP_MIN = 5
TOLERANCE = 1e-9

SEARCH = Series(SERVICE, c.VARIANT_STABLE, "/search", "GET")
SEARCH_CANARY = Series(SERVICE, c.VARIANT_CANARY, "/search", "GET")
HEALTH = Series(SERVICE, c.VARIANT_STABLE, "/health", "GET", has_error_series=False)
DOCS = Series(SERVICE, c.VARIANT_STABLE, "/docs", "POST")

# Gateway: 2,000 requests a minute; /search (stable + canary): 1,200 of them.
TIMELINE = Timeline(
    series=(SEARCH, SEARCH_CANARY, HEALTH, DOCS),
    phases=(
        # 1/2000 = 0.05% errors (0.5x), 6/1200 = 0.5% slow (0.5x).
        Phase(
            "healthy",
            75,
            {
                SEARCH: Minute(ok=974, client_errors=25, server_errors=1, slow=5),
                SEARCH_CANARY: Minute(ok=200, slow=1),
                HEALTH: Minute(ok=600),
                DOCS: Minute(ok=195, client_errors=5),
            },
        ),
        # 12/2000 = 0.6% (6x), 37/1200 = 3.08% (3.08x): above the ticket factor only.
        Phase(
            "slow burn",
            60,
            {
                SEARCH: Minute(ok=965, client_errors=25, server_errors=10, slow=31),
                SEARCH_CANARY: Minute(ok=198, server_errors=2, slow=6),
                HEALTH: Minute(ok=600),
                DOCS: Minute(ok=195, client_errors=5),
            },
        ),
        # 61/2000 = 3.05% (30.5x), 180/1200 = 15% (15x): above the page factor.
        Phase(
            "fast burn",
            45,
            {
                SEARCH: Minute(ok=934, client_errors=25, server_errors=41, slow=150),
                SEARCH_CANARY: Minute(ok=180, server_errors=20, slow=30),
                HEALTH: Minute(ok=600),
                DOCS: Minute(ok=195, client_errors=5),
            },
        ),
        Phase("no traffic", 75, {}),
        # Half the traffic, no 5xx at all (a ratio of exactly 0), 3/600 slow.
        Phase(
            "recovery",
            75,
            {
                SEARCH: Minute(ok=490, client_errors=10, slow=3),
                SEARCH_CANARY: Minute(ok=100),
                HEALTH: Minute(ok=300),
                DOCS: Minute(ok=100),
            },
        ),
    ),
)
EVAL_MINUTES = tuple(range(1, TIMELINE.minutes + 1))


def _catalog() -> Catalog:
    full = load_catalog([str(CATALOG)])
    return Catalog(slos=tuple(s for s in full.slos if s.service == SERVICE))


def _engine_statuses(
    slos: tuple[SLO, ...], policy: BurnRatePolicy
) -> dict[int, list[SLOStatusResult]]:
    """Replay the timeline into a store batch by batch; evaluate every SLO at each step."""
    store = SeriesStore()
    out: dict[int, list[SLOStatusResult]] = {}
    pushed = 0
    for sequence, minute in enumerate(EVAL_MINUTES, start=1):
        at = BASE_UNIX_S + minute * 60
        req = push_requests(TIMELINE, BASE_UNIX_S, pushed + 1, minute, sequence)
        batch = decode_push(req, now_s=at, max_age_s=store.retention_seconds, max_future_s=60)
        store.apply(batch)
        pushed = minute
        out[minute] = [evaluate_slo(slo, policy, store, at) for slo in slos]
    return out


def _labels(slo: SLO, **extra: str) -> dict[str, str]:
    return {
        **dict(slo.labels),
        c.LABEL_SLO_SERVICE: slo.service,
        c.LABEL_SLO_NAME: slo.name,
        **extra,
    }


def _metric(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def _slo_selector(slo: SLO) -> str:
    return f'{{{c.LABEL_SLO_SERVICE}="{slo.service}",{c.LABEL_SLO_NAME}="{slo.name}"}}'


def _window_name(seconds: float) -> str:
    from sloengine.durations import format_duration

    return format_duration(seconds)


def _expect(
    minute: int, series: str, labels: dict[str, str], value: float | None, scale: float = 1
) -> dict[str, Any]:
    """A promql_expr_test: `series * scale` equals the engine's value, or has no sample."""
    if value is None:
        return {"expr": series, "eval_time": f"{minute}m", "exp_samples": []}
    tol = TOLERANCE * max(1.0, abs(value))
    scaled = series if scale == 1 else f"({series} * {scale!r})"
    return {
        "expr": f"abs({scaled} - ({value!r})) <= bool {tol!r}",
        "eval_time": f"{minute}m",
        "exp_samples": [{"labels": _metric(labels), "value": 1}],
    }


def _record_tests(minute: int, st: SLOStatusResult) -> list[dict[str, Any]]:
    slo = st.slo
    sel = _slo_selector(slo)
    tests = []
    for w in st.windows:
        if w.window_seconds == slo.period_seconds:
            continue  # the period group's: see _period_tests
        name = _window_name(w.window_seconds)
        ratio = w.error_ratio if w.requests > 0 else None
        labels = _labels(slo, **{c.LABEL_SLO_WINDOW: name})
        tests.append(_expect(minute, c.sli_error_ratio_record(name) + sel, labels, ratio))
    five = st.window(300)
    assert five is not None
    labels5 = _labels(slo, **{c.LABEL_SLO_WINDOW: "5m"})
    burn = five.burn_rate if five.requests > 0 else None
    tests += [
        _expect(minute, c.CURRENT_BURN_RATE_RECORD + sel, labels5, burn),
        # Event rates over 5m, times 300 s: the engine's counts of the 5m window.
        _expect(minute, f"{TOTAL_EVENTS_RECORD_PREFIX}5m{sel}", labels5, five.requests, 300),
        _expect(minute, f"{ERROR_EVENTS_RECORD_PREFIX}5m{sel}", labels5, five.errors, 300),
    ]
    return tests


def _period_tests(minute: int, st: SLOStatusResult) -> list[dict[str, Any]]:
    slo = st.slo
    sel = _slo_selector(slo)
    name = _window_name(slo.period_seconds)
    period = _labels(slo, **{c.LABEL_SLO_WINDOW: name})
    window = st.window(slo.period_seconds)
    assert window is not None
    ratio = st.period_error_ratio if window.requests > 0 else None
    return [
        _expect(minute, c.sli_error_ratio_record(name) + sel, period, ratio),
        _expect(minute, c.PERIOD_BURN_RATE_RECORD + sel, period, st.error_budget_consumed_ratio),
        _expect(
            minute,
            c.PERIOD_ERROR_BUDGET_REMAINING_RECORD + sel,
            period,
            st.error_budget_remaining_ratio,
        ),
    ]


def _firing(st: SLOStatusResult) -> list[str]:
    return sorted({a.severity for a in st.alerts if a.firing})


def _alert_test(minute: int, statuses: list[SLOStatusResult]) -> dict[str, Any]:
    expected = []
    for st in statuses:
        slo = st.slo
        who = f"{slo.service} {slo.name}"
        for severity in _firing(st):
            expected.append(
                {
                    "exp_labels": _labels(
                        slo,
                        **{c.LABEL_SEVERITY: severity, "slo_severity": severity},
                    ),
                    "exp_annotations": {
                        "summary": f"{who} SLO error budget burn rate is over expected.",
                        "title": f"({severity}) {who} SLO error budget burn rate is too fast.",
                    },
                }
            )
    return {"eval_time": f"{minute}m", "alertname": c.SLO_BURN_ALERT, "exp_alerts": expected}


def _promtool_files(rules: str, statuses: dict[int, list[SLOStatusResult]]) -> dict[str, Any]:
    """Two promtool test files: every minute (windows, burn rates, alerts), every 5m (period)."""
    series = input_series(TIMELINE)
    every_minute = {
        "promql_expr_test": [
            t for m, sts in statuses.items() for st in sts for t in _record_tests(m, st)
        ],
        "alert_rule_test": [_alert_test(m, sts) for m, sts in statuses.items()],
    }
    period = {
        "promql_expr_test": [
            t
            for m, sts in statuses.items()
            if m % PERIOD_STEP_MIN == 0
            for st in sts
            for t in _period_tests(m, st)
        ]
    }
    return {
        f"{name}.test.yml": {
            "rule_files": [rules],
            "evaluation_interval": interval,
            "tests": [{"interval": "1m", "input_series": series, **tests}],
        }
        for name, interval, tests in (
            ("windows", "1m", every_minute),
            ("period", f"{PERIOD_STEP_MIN}m", period),
        )
    }


def _run_promtool(directory: Path, names: list[str]) -> list[str]:
    """Run `promtool test rules` on each file concurrently; the failures' output."""
    procs = {
        name: subprocess.Popen(
            [PROMTOOL_BIN, "test", "rules", name],
            cwd=directory,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in names
    }
    failures = []
    for name, proc in procs.items():
        out, _ = proc.communicate(timeout=120)
        if proc.returncode != 0:
            failures.append(f"{name}:\n{out[-6000:]}")
    return failures


@pytest.fixture(scope="module")
def statuses() -> dict[int, list[SLOStatusResult]]:
    catalog = _catalog()
    return _engine_statuses(catalog.slos, builtin_policy(POLICY))


def test_timeline_reaches_every_alert_state(statuses: dict[int, list[SLOStatusResult]]) -> None:
    # Not vacuous: the engine sees quiet, ticket-only and paging steps for both SLOs, and
    # windows without traffic.
    for i in range(2):
        states = {tuple(_firing(sts[i])) for sts in statuses.values()}
        assert states == {(), ("ticket",), ("page", "ticket")}, states
    idle = [m for m, sts in statuses.items() if sts[0].window(3600).requests == 0]  # type: ignore[union-attr]
    assert idle, "no step without traffic in the 1h window"
    for sts in statuses.values():
        assert all(math.isfinite(w.error_ratio) for st in sts for w in st.windows)


@pytest.mark.integration
def test_promtool_on_generated_rules_expects_the_engines_numbers(
    statuses: dict[int, list[SLOStatusResult]], tmp_path: Path
) -> None:
    files = render_alert_files(_catalog(), GenerateOptions(default_policy=POLICY, canary=None))
    rules = rules_filename(SERVICE)
    (tmp_path / rules).write_text(files[rules])
    tests = _promtool_files(rules, statuses)
    for name, doc in tests.items():
        (tmp_path / name).write_text(yaml.safe_dump(doc, sort_keys=False))
    failures = _run_promtool(tmp_path, sorted(tests))
    assert not failures, "\n".join(failures)
