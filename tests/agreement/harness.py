"""Replays a `Timeline` into the engine and into promtool, and compares them.

    statuses = engine_statuses(slos, policy, timeline)          # evaluate_slo at every step
    failures = promtool_agreement(tmp_path, slos, policy, timeline, statuses)
    assert not failures

The engine's numbers become promtool's expectations: each recorded series must equal the
engine's value to a relative 1e-9 (`abs(record - engine) <= bool tol` must be 1: a wrong
value and a missing sample both fail), a window the engine saw no request in must have no
sample, and the `SLOErrorBudgetBurn` alerts at each step must be exactly the engine's
firing severities.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from sloengine import conventions as c
from sloengine.durations import format_duration
from sloengine.engine.evaluate import SLOStatusResult, evaluate_slo, new_slice_ledger
from sloengine.generate import GenerateOptions, catalog_policies, render_alert_files
from sloengine.generate.rules import ERROR_EVENTS_RECORD_PREFIX, TOTAL_EVENTS_RECORD_PREFIX
from sloengine.ingest import decode_push
from sloengine.maths.timeslices import is_timeslices
from sloengine.model import SLO, BurnRatePolicy, Catalog
from sloengine.store import SeriesStore
from tests.agreement.traffic import Timeline, input_series, push_requests
from tests.support.prometheus import promtool_test_rules

__all__ = [
    "BASE_UNIX_S",
    "PERIOD_GROUP_SECONDS",
    "Statuses",
    "engine_statuses",
    "firing",
    "promtool_agreement",
]

# A whole day in unix time: aligned with every ring resolution of the store (10 s ... 6 h).
BASE_UNIX_S = 1_700_006_400
# The period group's interval (rules.PERIOD_GROUP_INTERVAL). promtool 2.42 evaluates every
# group at the file's evaluation_interval whatever its own `interval`, so the period is
# checked in a file of its own evaluated every 5m, where its 5m increases tile the timeline
# as they do in Prometheus.
PERIOD_GROUP_SECONDS = 300
TOLERANCE = 1e-9

Statuses = dict[int, list[SLOStatusResult]]  # step -> one status per SLO, in SLO order


def engine_statuses(slos: tuple[SLO, ...], policy: BurnRatePolicy, timeline: Timeline) -> Statuses:
    """Push the timeline one step per batch, evaluating every SLO after each step."""
    store = SeriesStore()
    # Timeslices SLOs keep their slices across evaluations, as the engine does.
    ledgers = [new_slice_ledger(slo) if is_timeslices(slo) else None for slo in slos]
    out: Statuses = {}
    for step in range(1, timeline.steps + 1):
        at = BASE_UNIX_S + step * timeline.step_seconds
        req = push_requests(timeline, BASE_UNIX_S, step, step, sequence=step)
        store.apply(decode_push(req, now_s=at, max_age_s=store.retention_seconds, max_future_s=0))
        out[step] = [
            evaluate_slo(slo, policy, store, at, ledger)
            for slo, ledger in zip(slos, ledgers, strict=True)
        ]
    return out


def firing(st: SLOStatusResult) -> tuple[str, ...]:
    """The severities whose alert the engine says is firing, sorted."""
    return tuple(sorted({a.severity for a in st.alerts if a.firing}))


@dataclass(frozen=True)
class _At:
    step: int
    step_seconds: int

    @property
    def eval_time(self) -> str:
        return f"{self.step * self.step_seconds}s"


def _labels(slo: SLO, **extra: str) -> dict[str, str]:
    return {
        **dict(slo.labels),
        c.LABEL_SLO_SERVICE: slo.service,
        c.LABEL_SLO_NAME: slo.name,
        **extra,
    }


def _metric(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def _sel(slo: SLO) -> str:
    return f'{{{c.LABEL_SLO_SERVICE}="{slo.service}",{c.LABEL_SLO_NAME}="{slo.name}"}}'


def _expect(
    at: _At, series: str, labels: dict[str, str], value: float | None, scale: float = 1
) -> dict[str, Any]:
    """A promql_expr_test: `series * scale` equals `value`, or has no sample (None)."""
    if value is None:
        return {"expr": series, "eval_time": at.eval_time, "exp_samples": []}
    tol = TOLERANCE * max(1.0, abs(value))
    scaled = series if scale == 1 else f"({series} * {scale!r})"
    return {
        "expr": f"abs({scaled} - ({value!r})) <= bool {tol!r}",
        "eval_time": at.eval_time,
        "exp_samples": [{"labels": _metric(labels), "value": 1}],
    }


def _window_tests(at: _At, st: SLOStatusResult) -> list[dict[str, Any]]:
    """Every alert window's ratio, the current (5m) burn rate and the 5m event counts."""
    slo, sel = st.slo, _sel(st.slo)
    tests = []
    for w in st.windows:
        if w.window_seconds == slo.period_seconds:
            continue  # the period group's: see _period_tests
        name = format_duration(w.window_seconds)
        labels = _labels(slo, **{c.LABEL_SLO_WINDOW: name})
        ratio = w.error_ratio if w.requests > 0 else None
        tests.append(_expect(at, c.sli_error_ratio_record(name) + sel, labels, ratio))
    five = st.window(300)
    assert five is not None, "every SLO records 5m events"
    labels5 = _labels(slo, **{c.LABEL_SLO_WINDOW: "5m"})
    current = _expect(
        at, c.CURRENT_BURN_RATE_RECORD + sel, labels5, five.burn_rate if five.requests else None
    )
    if is_timeslices(slo):
        return [*tests, current]  # slices, not events: no event-rate records
    return [
        *tests,
        current,
        # Event rates over 5m, times 300 s: the engine's counts of its 5m window.
        _expect(at, f"{TOTAL_EVENTS_RECORD_PREFIX}5m{sel}", labels5, five.requests, 300),
        _expect(at, f"{ERROR_EVENTS_RECORD_PREFIX}5m{sel}", labels5, five.errors, 300),
    ]


def _period_tests(at: _At, st: SLOStatusResult) -> list[dict[str, Any]]:
    """The period's ratio, burn rate (= budget consumed) and budget remaining."""
    slo, sel = st.slo, _sel(st.slo)
    name = format_duration(slo.period_seconds)
    labels = _labels(slo, **{c.LABEL_SLO_WINDOW: name})
    window = st.window(slo.period_seconds)
    assert window is not None
    ratio = st.period_error_ratio if window.requests > 0 else None
    return [
        _expect(at, c.sli_error_ratio_record(name) + sel, labels, ratio),
        _expect(at, c.PERIOD_BURN_RATE_RECORD + sel, labels, st.error_budget_consumed_ratio),
        _expect(
            at,
            c.PERIOD_ERROR_BUDGET_REMAINING_RECORD + sel,
            labels,
            st.error_budget_remaining_ratio,
        ),
    ]


AlertRules = dict[tuple[str, str, str], dict[str, Any]]  # (service, slo, severity) -> rule


def _alert_rules(rule_files: dict[str, str]) -> AlertRules:
    """Every generated SLO alert rule, by (service, SLO name, severity)."""
    rules: AlertRules = {}
    for text in rule_files.values():
        for group in yaml.safe_load(text)["groups"]:
            for rule in group["rules"]:
                labels = rule.get("labels", {})
                if "alert" in rule and c.LABEL_SLO_SEVERITY in labels:
                    key = (labels[c.LABEL_SLO_SERVICE], labels[c.LABEL_SLO_NAME])
                    rules[(*key, labels[c.LABEL_SLO_SEVERITY])] = rule
    return rules


def _expanded(text: str, slo: SLO) -> str:
    return text.replace(f"{{{{$labels.{c.LABEL_SLO_SERVICE}}}}}", slo.service).replace(
        f"{{{{$labels.{c.LABEL_SLO_NAME}}}}}", slo.name
    )


def _alert_test(at: _At, statuses: list[SLOStatusResult], rules: AlertRules) -> dict[str, Any]:
    """The alerts firing at `at` are exactly the engine's; labels and annotations are the
    generated rule's (what is checked here is when, and which severities, fire)."""
    expected = []
    for st in statuses:
        for severity in firing(st):
            rule = rules[(st.slo.service, st.slo.name, severity)]
            expected.append(
                {
                    "exp_labels": {**_labels(st.slo), **rule.get("labels", {})},
                    "exp_annotations": {
                        k: _expanded(v, st.slo) for k, v in rule.get("annotations", {}).items()
                    },
                }
            )
    return {"eval_time": at.eval_time, "alertname": c.SLO_BURN_ALERT, "exp_alerts": expected}


def _test_files(
    alert_rules: AlertRules,
    rule_files: list[str],
    group_order: list[str],
    statuses: Statuses,
    timeline: Timeline,
    parts: tuple[str, ...],
) -> dict[str, Any]:
    """promtool test files: `windows` at every step (ratios, burn rates, alerts) and
    `period` every 5m."""
    s = timeline.step_seconds
    if PERIOD_GROUP_SECONDS % s:
        raise ValueError(f"step {s}s does not divide the period group's {PERIOD_GROUP_SECONDS}s")
    every = PERIOD_GROUP_SECONDS // s
    tests: dict[str, tuple[int, dict[str, Any]]] = {
        "windows": (
            s,
            {
                "promql_expr_test": [
                    t
                    for step, sts in statuses.items()
                    for st in sts
                    for t in _window_tests(_At(step, s), st)
                ]
                # Timeslices: every group must run every slice, so the period is checked here.
                + [
                    t
                    for step, sts in statuses.items()
                    for st in sts
                    if is_timeslices(st.slo)
                    for t in _period_tests(_At(step, s), st)
                ],
                "alert_rule_test": [
                    _alert_test(_At(step, s), sts, alert_rules) for step, sts in statuses.items()
                ],
            },
        ),
        "period": (
            PERIOD_GROUP_SECONDS,
            {
                "promql_expr_test": [
                    t
                    for step, sts in statuses.items()
                    if step % every == 0
                    for st in sts
                    if not is_timeslices(st.slo)
                    for t in _period_tests(_At(step, s), st)
                ]
            },
        ),
    }
    series = input_series(timeline)
    return {
        f"{name}.test.yml": {
            "rule_files": rule_files,
            "evaluation_interval": f"{interval}s",
            "group_eval_order": group_order,
            "tests": [{"interval": f"{s}s", "input_series": series, **body}],
        }
        for name, (interval, body) in tests.items()
        if name in parts
    }


def _run_promtool(directory: Path, names: list[str]) -> list[str]:
    """`promtool test rules` on each file, concurrently; the output of those that failed."""
    failures = []
    for name, out in promtool_test_rules(directory, names, timeout_s=120).items():
        # Value mismatches come first, alert mismatches last: show both ends.
        shown = out if len(out) <= 8000 else f"{out[:4000]}\n[...]\n{out[-4000:]}"
        failures.append(f"{name}:\n{shown}")
    return failures


def promtool_agreement(
    directory: Path,
    slos: tuple[SLO, ...],
    policy: BurnRatePolicy,
    timeline: Timeline,
    statuses: Statuses,
    parts: tuple[str, ...] = ("windows", "period"),
) -> list[str]:
    """Generate the SLOs' rules, write promtool tests expecting `statuses`, run them.

    Returns promtool's output for every failing file (empty: the two sides agree).
    """
    # The engine side is evaluated under `policy`: the rules must be too, whatever policy
    # the loader chose for each SLO.
    catalog = Catalog(slos=tuple(replace(s, policy=policy.name) for s in slos))
    files = render_alert_files(
        catalog,
        GenerateOptions(default_policy=policy.name, canary=None),
        catalog_policies(catalog, extra=(policy,)),
    )
    rule_files = sorted(n for n in files if n.endswith(".rules.yml"))
    for name in rule_files:
        (directory / name).write_text(files[name])
    groups = [g["name"] for n in rule_files for g in yaml.safe_load(files[n])["groups"]]
    # promtool runs groups in map order unless told: the period groups read the 5m event
    # rates the main groups record at the same timestamp, so they go last (in Prometheus
    # they read the main group's latest evaluation).
    order = sorted(groups, key=lambda g: g.endswith("-period"))
    alert_rules = _alert_rules({n: files[n] for n in rule_files})
    tests = _test_files(alert_rules, rule_files, order, statuses, timeline, parts)
    for name, doc in tests.items():
        (directory / name).write_text(yaml.safe_dump(doc, sort_keys=False))
    return _run_promtool(directory, sorted(tests))
