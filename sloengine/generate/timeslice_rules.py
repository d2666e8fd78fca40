"""Rules for Timeslices and RatioTimeslices SLOs (see `sloengine.maths.timeslices` for the maths).

The main group runs every slice (`interval: <timeSliceWindow>`), so each evaluation closes
one slice, and records in order:

    slo:timeslice_error:ratio    the slice's error ratio over [slice], no sample w/o traffic
    slo:timeslice_bad:bool       Timeslices only: slice error ratio > bool 1 - timeSliceTarget
    slo:sli_error:ratio_rate<w>  5m and every policy window: sum_over_time(slice errors[w])
                                 / (w / slice), the share of bad slices (or the mean slice
                                 error ratio); no sample when no slice of w had traffic
    slo:objective:ratio, slo:error_budget:ratio, slo:current_burn_rate:ratio, and the
    policy's alerts, exactly as for events (`rules.py`)

The period group sums the slices over the period the same way, then records the period
burn rate and budget remaining. Ranges are one second short of the window, so a window of
n slices reads exactly n slice samples (Prometheus 2.x ranges include their start).
"""

from __future__ import annotations

from dataclasses import replace

from sloengine import conventions as c
from sloengine.durations import format_duration, format_number
from sloengine.generate import rules as r
from sloengine.generate.links import DEFAULT_LINKS, AlertLinks
from sloengine.maths.timeslices import slice_error_threshold, timeslice_refusal
from sloengine.model import SLO, BurnRatePolicy, Labels

__all__ = ["TIMESLICE_BAD_RECORD", "TIMESLICE_ERROR_RECORD", "timeslice_rule_groups"]

TIMESLICE_ERROR_RECORD = c.TIMESLICE_ERROR_RATIO_RECORD
TIMESLICE_BAD_RECORD = c.TIMESLICE_BAD_RECORD


def _slice_rules(slo: SLO, slice_window: str, labels: Labels) -> tuple[list[r.Rule], str]:
    """The slice's records, and the record every window sums (its slice errors)."""
    ratio = replace(r._window_ratio_rule(slo, slice_window, labels), record=TIMESLICE_ERROR_RECORD)
    rules: list[r.Rule] = [ratio]
    if slo.budgeting_method == "RatioTimeslices":
        return rules, TIMESLICE_ERROR_RECORD
    threshold = format_number(slice_error_threshold(slo))
    rules.append(
        r.RecordingRule(
            TIMESLICE_BAD_RECORD,
            f"{r._recorded(TIMESLICE_ERROR_RECORD, slo)} > bool {threshold}",
            ratio.labels,
        )
    )
    return rules, TIMESLICE_BAD_RECORD


def _window_rule(slo: SLO, errors: str, seconds: float, labels: Labels) -> r.RecordingRule:
    assert slo.timeslice_window_seconds is not None
    slices = round(seconds / slo.timeslice_window_seconds)
    window = format_duration(seconds)
    expr = f"sum_over_time({r._recorded(errors, slo)}[{round(seconds) - 1}s])\n/\n{slices}"
    return r.RecordingRule(
        c.sli_error_ratio_record(window), expr, r._merge(labels, {c.LABEL_SLO_WINDOW: window})
    )


def timeslice_rule_groups(
    slo: SLO,
    policy: BurnRatePolicy,
    period_interval: str | None = r.PERIOD_GROUP_INTERVAL,
    links: AlertLinks = DEFAULT_LINKS,
) -> tuple[r.RuleGroup, r.RuleGroup]:
    """The main and period groups of a Timeslices / RatioTimeslices SLO.

    ValueError when the slice does not divide the policy's windows and the period.
    """
    refusal = timeslice_refusal(slo, policy.window_seconds())
    if refusal is not None:
        raise ValueError(f"SLO {slo.id}: {refusal}")
    assert slo.timeslice_window_seconds is not None
    labels = r._merge(slo.labels, r._identity(slo))
    slice_window = format_duration(slo.timeslice_window_seconds)
    rules, errors = _slice_rules(slo, slice_window, labels)
    windows = sorted({300.0, *policy.window_seconds()} - {float(slo.period_seconds)})
    rules.extend(_window_rule(slo, errors, w, labels) for w in windows)
    rules.extend(r._meta_rules(slo, labels))
    if not slo.alerting.disable:
        for severity, settings in (
            (c.SEVERITY_PAGE, slo.alerting.page),
            (c.SEVERITY_TICKET, slo.alerting.ticket),
        ):
            alert = r._alert_rule(slo, policy, severity, settings, links)
            if alert is not None:
                rules.append(alert)
    period = format_duration(slo.period_seconds)
    period_rules = (
        _window_rule(slo, errors, slo.period_seconds, labels),
        *r._period_meta_rules(slo, period, labels),
    )
    name = f"sloengine-slo-{slo.service}-{slo.name}"
    return (
        r.RuleGroup(name, tuple(rules), slice_window),
        r.RuleGroup(f"{name}-period", period_rules, period_interval),
    )
