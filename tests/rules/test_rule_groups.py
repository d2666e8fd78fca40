"""Rule groups of one SLO: which rules exist for a policy, alert settings, the period group."""

from __future__ import annotations

from dataclasses import replace

from sloengine import conventions as c
from sloengine.generate.rules import AlertingRule, RecordingRule, slo_rule_groups
from sloengine.model import SLO, Alerting, NativeSLI, RawSLI, SeverityAlert
from sloengine.specs.policy import builtin_policy

SLO_ = SLO(
    service="gateway",
    name="availability",
    objective_ratio=0.999,
    sli=NativeSLI("availability", selector=(("service", "gateway"),)),
)
WORKBOOK = builtin_policy("sre-workbook-30d")


def _records(slo: SLO, policy_name: str = "sre-workbook-30d") -> list[str]:
    main, period = slo_rule_groups(slo, builtin_policy(policy_name))
    return [r.record for g in (main, period) for r in g.rules if isinstance(r, RecordingRule)]


def _alerts(slo: SLO) -> list[AlertingRule]:
    main, _ = slo_rule_groups(slo, WORKBOOK)
    return [r for r in main.rules if isinstance(r, AlertingRule)]


def test_every_policy_window_gets_a_ratio_and_the_period_its_own() -> None:
    ratios = [r for r in _records(SLO_) if r.startswith(c.SLI_ERROR_RATIO_RECORD_PREFIX)]
    assert ratios == [
        c.sli_error_ratio_record(w) for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d")
    ]


def test_fast_slow_policy_records_only_its_two_windows() -> None:
    ratios = [
        r for r in _records(SLO_, "fast-slow") if r.startswith(c.SLI_ERROR_RATIO_RECORD_PREFIX)
    ]
    assert ratios == [c.sli_error_ratio_record(w) for w in ("5m", "1h", "30d")]


def test_period_group_runs_every_5m_and_holds_the_period_records() -> None:
    main, period = slo_rule_groups(SLO_, WORKBOOK)
    assert (main.interval, period.interval) == (None, "5m")
    assert [r.record for r in period.rules if isinstance(r, RecordingRule)][-2:] == [
        c.PERIOD_BURN_RATE_RECORD,
        c.PERIOD_ERROR_BUDGET_REMAINING_RECORD,
    ]
    assert slo_rule_groups(SLO_, WORKBOOK, period_interval=None)[1].interval is None


def test_one_alert_per_severity_with_or_of_its_window_pairs() -> None:
    page, ticket = _alerts(SLO_)
    assert dict(page.labels)[c.LABEL_SEVERITY] == c.SEVERITY_PAGE
    assert dict(ticket.labels)[c.LABEL_SEVERITY] == c.SEVERITY_TICKET
    assert (
        page.expr.count("\nor\n") == 1
        and "(14.4 * 0.001)" in page.expr
        and "(6 * 0.001)" in page.expr
    )
    assert "(3 * 0.001)" in ticket.expr and "(1 * 0.001)" in ticket.expr


def test_sloth_alert_settings_are_kept_and_slo_severity_survives_an_override() -> None:
    alerting = Alerting(
        name="MyServiceHighErrorRate",
        labels=(("category", "availability"),),
        annotations=(("summary", "High error rate"),),
        page=SeverityAlert(labels=(("severity", "pageteam"),)),
    )
    page, _ = _alerts(replace(SLO_, alerting=alerting))
    labels = dict(page.labels)
    assert page.alert == "MyServiceHighErrorRate"
    assert (labels["severity"], labels["slo_severity"], labels["category"]) == (
        "pageteam",
        "page",
        "availability",
    )
    assert dict(page.annotations)["summary"] == "High error rate"


def test_disabled_alerts_are_not_generated() -> None:
    no_page = replace(SLO_, alerting=Alerting(page=SeverityAlert(disable=True)))
    assert [dict(a.labels)[c.LABEL_SEVERITY] for a in _alerts(no_page)] == [c.SEVERITY_TICKET]
    assert _alerts(replace(SLO_, alerting=Alerting(disable=True))) == []


def test_raw_sli_averages_its_5m_ratio_over_the_period() -> None:
    raw = replace(SLO_, sli=RawSLI("1 - avg(avg_over_time(x[{{.window}}]))"))
    _, period = slo_rule_groups(raw, WORKBOOK)
    ratio = next(
        r for r in period.rules if isinstance(r, RecordingRule) and r.record.endswith("30d")
    )
    assert ratio.expr.startswith("avg_over_time(slo:sli_error:ratio_rate5m{")
