"""Prometheus recording and MWMBR alerting rules for one SLO (pure: model in, rules out).

One rule group per SLO, evaluated in order, so every rule reads the values its
predecessors recorded at the same evaluation time:

    slo:sli_total_events:rate5m      events/s over 5m                       (events SLIs)
    slo:sli_error_events:rate5m      bad events/s over 5m, 0 when no bad series exist
    slo:sli_error:ratio_rate5m       errors / total, no sample when total == 0
    slo:sli_error:ratio_rate<w>      each alert window: raw rate ratio (Sloth's arithmetic)
    slo:sli_error:ratio_rate<period> sum_over_time(errors 5m) / sum_over_time(total 5m)
    slo:objective:ratio, slo:error_budget:ratio, slo:current_burn_rate:ratio,
    slo:period_burn_rate:ratio, slo:period_error_budget_remaining:ratio
    <alert name>{severity=page|ticket}   one alert per severity, OR of its window pairs

NaN: a ratio is only recorded where its denominator is > 0, so zero traffic leaves a gap,
never a NaN that a later `*_over_time(...[30d])` would carry for the whole period.
Ratio of sums: the period ratio sums 5m event rates, so a busy hour weighs more than a
quiet one (an average of 5m ratios, Sloth's choice, weighs them equally).
A RawSLI has no events: its period ratio is the average of its 5m ratios, like Sloth.
"""

from __future__ import annotations

from dataclasses import dataclass

from sloengine import conventions as c
from sloengine.durations import format_duration
from sloengine.model import SLO, BurnRatePolicy, BurnWindow, Labels, RawSLI, SeverityAlert
from sloengine.sli_promql import error_ratio_expr, format_number, label_matchers, sli_queries

__all__ = [
    "BASE_WINDOW",
    "ERROR_EVENTS_RECORD_PREFIX",
    "LABEL_SLO_SEVERITY",
    "TOTAL_EVENTS_RECORD_PREFIX",
    "AlertingRule",
    "RecordingRule",
    "Rule",
    "RuleGroup",
    "slo_rule_group",
]

# Names this generator adds to conventions.py's: the per-window event rates the period
# ratio is summed from, and the page/ticket label that survives a Sloth severity override.
ERROR_EVENTS_RECORD_PREFIX = "slo:sli_error_events:rate"
TOTAL_EVENTS_RECORD_PREFIX = "slo:sli_total_events:rate"
LABEL_SLO_SEVERITY = "slo_severity"

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


Rule = RecordingRule | AlertingRule


@dataclass(frozen=True)
class RuleGroup:
    name: str
    rules: tuple[Rule, ...]


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
        # the 5m events, but only while there is traffic: an idle SLO records nothing.
        queries = sli_queries(slo.sli, BASE_WINDOW)
        traffic = f"({_recorded(TOTAL_EVENTS_RECORD_PREFIX + BASE_WINDOW, slo)} > 0)"
        fallback = f"0 * {traffic}" if queries.errors is not None else f"0 * {traffic} + 1"
        expr = f"(\n{_indent(expr)}\n)\nor on()\n{fallback}"
    return RecordingRule(
        c.sli_error_ratio_record(window), expr, _merge(labels, {c.LABEL_SLO_WINDOW: window})
    )


def _period_ratio_rule(slo: SLO, period: str, labels: Labels) -> RecordingRule:
    if isinstance(slo.sli, RawSLI):
        ratio = _recorded(c.sli_error_ratio_record(BASE_WINDOW), slo)
        expr = f"avg_over_time({ratio}[{period}])"
    else:
        errors = _recorded(ERROR_EVENTS_RECORD_PREFIX + BASE_WINDOW, slo)
        total = _recorded(TOTAL_EVENTS_RECORD_PREFIX + BASE_WINDOW, slo)
        expr = f"sum_over_time({errors}[{period}])\n/\n(sum_over_time({total}[{period}]) > 0)"
    return RecordingRule(
        c.sli_error_ratio_record(period), expr, _merge(labels, {c.LABEL_SLO_WINDOW: period})
    )


def _meta_rules(slo: SLO, period: str, labels: Labels) -> list[Rule]:
    budget = format_number(slo.error_budget_ratio)
    current = _recorded(c.sli_error_ratio_record(BASE_WINDOW), slo)
    period_ratio = _recorded(c.sli_error_ratio_record(period), slo)
    period_burn = _recorded(c.PERIOD_BURN_RATE_RECORD, slo)
    window = c.LABEL_SLO_WINDOW
    return [
        RecordingRule(
            c.OBJECTIVE_RATIO_RECORD, f"vector({format_number(slo.objective_ratio)})", labels
        ),
        RecordingRule(c.ERROR_BUDGET_RATIO_RECORD, f"vector({budget})", labels),
        # Burn rates keep the window they were computed over, said explicitly.
        RecordingRule(
            c.CURRENT_BURN_RATE_RECORD,
            f"{current} / {budget}",
            _merge(labels, {window: BASE_WINDOW}),
        ),
        RecordingRule(
            c.PERIOD_BURN_RATE_RECORD,
            f"{period_ratio} / {budget}",
            _merge(labels, {window: period}),
        ),
        RecordingRule(
            c.PERIOD_ERROR_BUDGET_REMAINING_RECORD,
            f"1 - {period_burn}",
            _merge(labels, {window: period}),
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
    slo: SLO, policy: BurnRatePolicy, severity: str, settings: SeverityAlert
) -> AlertingRule | None:
    pairs = [w for w in policy.windows if w.severity == severity]
    if settings.disable or not pairs:
        return None
    expr = "\nor\n".join(_pair_expr(slo, w) for w in pairs)
    who = f"{{{{$labels.{c.LABEL_SLO_SERVICE}}}}} {{{{$labels.{c.LABEL_SLO_NAME}}}}}"
    annotations = {
        "summary": f"{who} SLO error budget burn rate is over expected.",
        "title": f"({severity}) {who} SLO error budget burn rate is too fast.",
    }
    labels = _merge(
        {c.LABEL_SEVERITY: severity},
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


def slo_rule_group(slo: SLO, policy: BurnRatePolicy) -> RuleGroup:
    """Every recording and alerting rule of one SLO under `policy`, as one rule group."""
    labels = _merge(slo.labels, _identity(slo))
    period = format_duration(slo.period_seconds)
    rules: list[Rule] = []
    if isinstance(slo.sli, RawSLI):
        windows = _windows(policy)
    else:
        rules.extend(_event_rules(slo, labels))
        windows = [w for w in _windows(policy) if w != BASE_WINDOW]
    rules.extend(_window_ratio_rule(slo, w, labels) for w in windows if w != period)
    rules.append(_period_ratio_rule(slo, period, labels))
    rules.extend(_meta_rules(slo, period, labels))
    if not slo.alerting.disable:
        for severity, settings in (
            (c.SEVERITY_PAGE, slo.alerting.page),
            (c.SEVERITY_TICKET, slo.alerting.ticket),
        ):
            alert = _alert_rule(slo, policy, severity, settings)
            if alert is not None:
                rules.append(alert)
    return RuleGroup(f"sloengine-slo-{slo.service}-{slo.name}", tuple(rules))
