"""Prometheus recording and MWMBR alerting rules for one SLO (pure: model in, rules out).

Two rule groups per SLO. The main group, evaluated in order (each rule reads what the rules
before it recorded at the same evaluation time):

    slo:sli_total_events:rate5m      events/s over 5m                       (events SLIs)
    slo:sli_error_events:rate5m      bad events/s over 5m, 0 when no bad series exist
    slo:sli_error:ratio_rate5m       errors / total, no sample when total == 0
    slo:sli_error:ratio_rate<w>      each alert window: raw rate ratio (Sloth's arithmetic)
    slo:objective:ratio, slo:error_budget:ratio, slo:current_burn_rate:ratio
    <alert name>{severity=page|ticket}   one alert per severity, OR of its window pairs

The period group, evaluated every 5m:

    slo:sli_{error,total}_events:increase5m   the 5m rates * 300, sampled every 5m
    slo:sli_error:ratio_rate<period>           sum_over_time(errors) / sum_over_time(total)
    slo:period_burn_rate:ratio, slo:period_error_budget_remaining:ratio

NaN: a ratio is only recorded where its denominator is > 0, so zero traffic leaves a gap,
never a NaN that a later `*_over_time(...[30d])` would carry for the whole period.
Ratio of sums: the period ratio sums event counts, so a busy hour weighs more than a quiet
one (an average of 5m ratios, Sloth's choice, weighs them equally).
A RawSLI has no events: its period ratio is the average of its 5m ratios, like Sloth.
"""

from __future__ import annotations

from dataclasses import dataclass

from sloengine import conventions as c
from sloengine.durations import format_duration, format_number
from sloengine.generate.links import DEFAULT_LINKS, AlertLinks
from sloengine.generate.sli_promql import error_ratio_expr, label_matchers, sli_queries
from sloengine.model import SLO, BurnRatePolicy, BurnWindow, Labels, RawSLI, SeverityAlert

__all__ = [
    "BASE_WINDOW",
    "ERROR_EVENTS_5M_RECORD",
    "ERROR_EVENTS_RECORD_PREFIX",
    "LABEL_SLO_SEVERITY",
    "PERIOD_GROUP_INTERVAL",
    "TOTAL_EVENTS_5M_RECORD",
    "TOTAL_EVENTS_RECORD_PREFIX",
    "AlertingRule",
    "RecordingRule",
    "Rule",
    "RuleGroup",
    "slo_rule_groups",
]

ERROR_EVENTS_RECORD_PREFIX = c.SLI_ERROR_EVENTS_RATE_RECORD_PREFIX
TOTAL_EVENTS_RECORD_PREFIX = c.SLI_TOTAL_EVENTS_RATE_RECORD_PREFIX
# Events per 5m, recorded every 5m by the period group: the 30-day sums read 8,640 samples
# per series instead of one per evaluation of the main group (86,400 at 30s).
ERROR_EVENTS_5M_RECORD = c.SLI_ERROR_EVENTS_INCREASE_5M_RECORD
TOTAL_EVENTS_5M_RECORD = c.SLI_TOTAL_EVENTS_INCREASE_5M_RECORD
PERIOD_GROUP_INTERVAL = "5m"
LABEL_SLO_SEVERITY = c.LABEL_SLO_SEVERITY

# The short window every SLO records events for: the current burn rate reads it and the
# period ratio is summed from it.
BASE_WINDOW = "5m"


@dataclass(frozen=True)
class RecordingRule:
    record: str
    expr: str
    labels: Labels = ()


@dataclass(frozen=True)
class AlertingRule:
    alert: str
    expr: str
    labels: Labels = ()
    annotations: Labels = ()
    hold_for: str | None = None  # Prometheus `for:`; None fires on the first breaching round


Rule = RecordingRule | AlertingRule


@dataclass(frozen=True)
class RuleGroup:
    name: str
    rules: tuple[Rule, ...]
    interval: str | None = None  # None: Prometheus' global evaluation_interval


def _merge(*label_sets: Labels | dict[str, str]) -> Labels:
    """Later label sets win; result sorted (the model's Labels form)."""
    merged: dict[str, str] = {}
    for labels in label_sets:
        merged.update(dict(labels))
    return tuple(sorted(merged.items()))


def _identity(slo: SLO) -> dict[str, str]:
    return {c.LABEL_SLO_SERVICE: slo.service, c.LABEL_SLO_NAME: slo.name}


def _select(slo: SLO) -> str:
    return label_matchers(
        (c.LABEL_SLO_SERVICE, "=", slo.service), (c.LABEL_SLO_NAME, "=", slo.name)
    )


def _windows(policy: BurnRatePolicy) -> list[str]:
    seconds = sorted({*policy.window_seconds(), 300.0})
    return [format_duration(s) for s in seconds]


def _recorded(name: str, slo: SLO) -> str:
    return f"{name}{_select(slo)}"


def _event_rules(slo: SLO, labels: Labels) -> list[Rule]:
    """5m total and error event rates, and their NaN-free ratio."""
    assert not isinstance(slo.sli, RawSLI)
    queries = sli_queries(slo.sli, BASE_WINDOW)
    total = _recorded(TOTAL_EVENTS_RECORD_PREFIX + BASE_WINDOW, slo)
    if queries.errors is not None:
        # No series of bad events at all (a service that never failed) means zero errors.
        errors = f"{queries.errors}\nor on()\n0 * {total}"
    else:
        # No series of good events at all means every event was bad.
        errors = f"clamp_min(\n  {total}\n  - on()\n  ({queries.good} or on() 0 * {total}),\n  0\n)"
    error_events = _recorded(ERROR_EVENTS_RECORD_PREFIX + BASE_WINDOW, slo)
    window = {c.LABEL_SLO_WINDOW: BASE_WINDOW}
    return [
        RecordingRule(
            TOTAL_EVENTS_RECORD_PREFIX + BASE_WINDOW, queries.total, _merge(labels, window)
        ),
        RecordingRule(ERROR_EVENTS_RECORD_PREFIX + BASE_WINDOW, errors, _merge(labels, window)),
        RecordingRule(
            c.sli_error_ratio_record(BASE_WINDOW),
            f"{error_events}\n/\n({total} > 0)",
            _merge(labels, window),
        ),
    ]


def _window_ratio_rule(slo: SLO, window: str, labels: Labels) -> RecordingRule:
    """The error ratio over an alert window, from raw series (the Workbook's definition)."""
    expr = error_ratio_expr(slo.sli, window)
    if not isinstance(slo.sli, RawSLI):
        # Keep "no bad-event series" meaning 0 (or "no good-event series" meaning 1), as in
        # the 5m events, but only while THIS window had traffic: an idle window records
        # nothing. (Gating on the 5m window paged a healthy latency SLO when traffic stopped,
        # for windows shorter than 5m; tests/agreement pins it.)
        queries = sli_queries(slo.sli, window)
        traffic = f"({queries.total} > 0)"
        fallback = f"0 * {traffic}" if queries.errors is not None else f"0 * {traffic} + 1"
        expr = f"(\n{_indent(expr)}\n)\nor on()\n{fallback}"
    return RecordingRule(
        c.sli_error_ratio_record(window), expr, _merge(labels, {c.LABEL_SLO_WINDOW: window})
    )


def _period_rules(slo: SLO, period: str, labels: Labels) -> list[Rule]:
    """The period ratio: a ratio of summed 5m event counts (an average for a RawSLI)."""
    window = {c.LABEL_SLO_WINDOW: period}
    if isinstance(slo.sli, RawSLI):
        ratio = _recorded(c.sli_error_ratio_record(BASE_WINDOW), slo)
        expr = f"avg_over_time({ratio}[{period}])"
        return [RecordingRule(c.sli_error_ratio_record(period), expr, _merge(labels, window))]
    base = {c.LABEL_SLO_WINDOW: BASE_WINDOW}
    rules: list[Rule] = [
        # A 5m rate times 300 s, sampled every 5m: consecutive samples tile the timeline.
        RecordingRule(
            record_5m, f"{_recorded(prefix + BASE_WINDOW, slo)} * 300", _merge(labels, base)
        )
        for record_5m, prefix in (
            (TOTAL_EVENTS_5M_RECORD, TOTAL_EVENTS_RECORD_PREFIX),
            (ERROR_EVENTS_5M_RECORD, ERROR_EVENTS_RECORD_PREFIX),
        )
    ]
    errors = _recorded(ERROR_EVENTS_5M_RECORD, slo)
    total = _recorded(TOTAL_EVENTS_5M_RECORD, slo)
    # One second short of the period: Prometheus 2.x ranges include their start point, so a
    # full-period range would also sum the 5m sample recorded exactly one period ago.
    span = f"{round(slo.period_seconds) - 1}s"
    expr = f"sum_over_time({errors}[{span}])\n/\n(sum_over_time({total}[{span}]) > 0)"
    rules.append(RecordingRule(c.sli_error_ratio_record(period), expr, _merge(labels, window)))
    return rules


def _meta_rules(slo: SLO, labels: Labels) -> list[Rule]:
    budget = format_number(slo.error_budget_ratio)
    current = _recorded(c.sli_error_ratio_record(BASE_WINDOW), slo)
    return [
        RecordingRule(
            c.OBJECTIVE_RATIO_RECORD, f"vector({format_number(slo.objective_ratio)})", labels
        ),
        RecordingRule(c.ERROR_BUDGET_RATIO_RECORD, f"vector({budget})", labels),
        # Burn rates keep the window they were computed over, said explicitly.
        RecordingRule(
            c.CURRENT_BURN_RATE_RECORD,
            f"{current} / {budget}",
            _merge(labels, {c.LABEL_SLO_WINDOW: BASE_WINDOW}),
        ),
    ]


def _period_meta_rules(slo: SLO, period: str, labels: Labels) -> list[Rule]:
    budget = format_number(slo.error_budget_ratio)
    period_ratio = _recorded(c.sli_error_ratio_record(period), slo)
    period_burn = _recorded(c.PERIOD_BURN_RATE_RECORD, slo)
    window = {c.LABEL_SLO_WINDOW: period}
    return [
        RecordingRule(
            c.PERIOD_BURN_RATE_RECORD, f"{period_ratio} / {budget}", _merge(labels, window)
        ),
        RecordingRule(
            c.PERIOD_ERROR_BUDGET_REMAINING_RECORD, f"1 - {period_burn}", _merge(labels, window)
        ),
    ]


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _pair_expr(slo: SLO, window: BurnWindow) -> str:
    threshold = f"({format_number(window.factor)} * {format_number(slo.error_budget_ratio)})"
    sides = []
    for seconds in (window.short_window_seconds, window.long_window_seconds):
        ratio = _recorded(c.sli_error_ratio_record(format_duration(seconds)), slo)
        sides.append(f"  max({ratio} > {threshold}) without ({c.LABEL_SLO_WINDOW})")
    return "(\n" + "\n  and\n".join(sides) + "\n)"


def _alert_rule(
    slo: SLO,
    policy: BurnRatePolicy,
    severity: str,
    settings: SeverityAlert,
    links: AlertLinks = DEFAULT_LINKS,
) -> AlertingRule | None:
    pairs = [w for w in policy.windows if w.severity == severity]
    if settings.disable or not pairs:
        return None
    expr = "\nor\n".join(_pair_expr(slo, w) for w in pairs)
    who = f"{{{{$labels.{c.LABEL_SLO_SERVICE}}}}} {{{{$labels.{c.LABEL_SLO_NAME}}}}}"
    annotations = {
        "summary": f"{who} SLO error budget burn rate is over expected.",
        "title": f"({severity}) {who} SLO error budget burn rate is too fast.",
        # The runbook section is the burn alert's, whatever name a spec gave the alert.
        **dict(links.annotations(c.SLO_BURN_ALERT, f"slo/{slo.service}")),
    }
    # A policy may send a severity's burn to the engine's rollback receiver (the seed rolls
    # back on a fast burn during a canary); a spec can also set rollback="true" itself.
    rollback = (
        {c.LABEL_ROLLBACK: c.ROLLBACK_LABEL_VALUE} if severity in policy.rollback_severities else {}
    )
    labels = _merge(
        {c.LABEL_SEVERITY: severity},
        rollback,
        slo.alerting.labels,
        settings.labels,
        # Identity labels are on the result already; as rule labels they also keep two
        # SLOs' alerts distinct to `promtool check rules`' duplicate-rule lint.
        _identity(slo),
        {LABEL_SLO_SEVERITY: severity},
    )
    return AlertingRule(
        slo.alerting.name,
        expr,
        labels,
        _merge(annotations, slo.alerting.annotations, settings.annotations),
    )


def slo_rule_groups(
    slo: SLO,
    policy: BurnRatePolicy,
    period_interval: str | None = PERIOD_GROUP_INTERVAL,
    links: AlertLinks = DEFAULT_LINKS,
) -> tuple[RuleGroup, RuleGroup]:
    """Every rule of one SLO under `policy`: the main group (SLIs, burn rates, alerts) and
    the period group (30-day ratio and budget), evaluated every `period_interval`.

    The period moves by 1/8,640 in 5 minutes, so evaluating it every 5m loses nothing and
    reads a tenth of the samples of a 30s group, ten times less often.
    Timeslices / RatioTimeslices SLOs get slice-based groups (`timeslice_rules.py`).
    """
    if slo.budgeting_method != "Occurrences":
        from sloengine.generate.timeslice_rules import timeslice_rule_groups

        return timeslice_rule_groups(slo, policy, period_interval, links)
    labels = _merge(slo.labels, _identity(slo))
    period = format_duration(slo.period_seconds)
    rules: list[Rule] = []
    if isinstance(slo.sli, RawSLI):
        windows = _windows(policy)
    else:
        rules.extend(_event_rules(slo, labels))
        windows = [w for w in _windows(policy) if w != BASE_WINDOW]
    rules.extend(_window_ratio_rule(slo, w, labels) for w in windows if w != period)
    rules.extend(_meta_rules(slo, labels))
    if not slo.alerting.disable:
        for severity, settings in (
            (c.SEVERITY_PAGE, slo.alerting.page),
            (c.SEVERITY_TICKET, slo.alerting.ticket),
        ):
            alert = _alert_rule(slo, policy, severity, settings, links)
            if alert is not None:
                rules.append(alert)
    name = f"sloengine-slo-{slo.service}-{slo.name}"
    period_rules = (*_period_rules(slo, period, labels), *_period_meta_rules(slo, period, labels))
    return RuleGroup(name, tuple(rules)), RuleGroup(f"{name}-period", period_rules, period_interval)
