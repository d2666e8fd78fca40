"""`--labels sloth`: the generated rules also carry Sloth's labels and records, so the Grafana
dashboards and Alertmanager routes built for Sloth keep working after a migration.

Sloth (`internal/prometheus/conventions.go` and its generated rules) labels every record
`sloth_id` (`<service>-<slo>`), `sloth_service`, `sloth_slo`, SLI windows `sloth_window`,
alerts `sloth_severity` (page|ticket), and records `slo:time_period:days` (the period in
days) and `sloth_slo_info`. This pass adds all of that to the rules `rules.py` renders and
keeps ours (`slo_service`, `slo_name`, `slo_window`, `slo_severity`), so our dashboards keep
working too: a superset, never a rename. Record names are shared already
(`slo:sli_error:ratio_rate<w>`, `slo:objective:ratio`, `slo:error_budget:ratio`,
`slo:current_burn_rate:ratio`, `slo:period_burn_rate:ratio`,
`slo:period_error_budget_remaining:ratio`).

The alert expressions drop both window labels (`without (slo_window, sloth_window)`), or
the 5m and 1h sides of a window pair would no longer match each other.
"""

from __future__ import annotations

from dataclasses import replace

from sloengine import __version__
from sloengine import conventions as c
from sloengine.durations import format_number
from sloengine.generate.rules import AlertingRule, RecordingRule, Rule, RuleGroup
from sloengine.model import SLO

__all__ = [
    "LABEL_SLOTH_ID",
    "LABEL_SLOTH_SERVICE",
    "LABEL_SLOTH_SEVERITY",
    "LABEL_SLOTH_SLO",
    "LABEL_SLOTH_WINDOW",
    "SLOTH_INFO_RECORD",
    "TIME_PERIOD_DAYS_RECORD",
    "with_sloth_labels",
]

LABEL_SLOTH_ID = c.LABEL_SLOTH_ID
LABEL_SLOTH_SERVICE = c.LABEL_SLOTH_SERVICE
LABEL_SLOTH_SLO = c.LABEL_SLOTH_SLO
LABEL_SLOTH_WINDOW = c.LABEL_SLOTH_WINDOW
LABEL_SLOTH_SEVERITY = c.LABEL_SLOTH_SEVERITY
TIME_PERIOD_DAYS_RECORD = c.TIME_PERIOD_DAYS_RECORD
SLOTH_INFO_RECORD = c.SLOTH_SLO_INFO_RECORD

# Our label -> Sloth's, for labels that only some rules carry.
_ALSO = {c.LABEL_SLO_WINDOW: LABEL_SLOTH_WINDOW, c.LABEL_SLO_SEVERITY: LABEL_SLOTH_SEVERITY}
_WITHOUT_WINDOW = f"without ({c.LABEL_SLO_WINDOW})"


def _identity(slo: SLO) -> dict[str, str]:
    return {LABEL_SLOTH_ID: slo.id, LABEL_SLOTH_SERVICE: slo.service, LABEL_SLOTH_SLO: slo.name}


def _labels(rule: Rule, slo: SLO) -> tuple[tuple[str, str], ...]:
    merged = dict(rule.labels)
    for ours, theirs in _ALSO.items():
        if ours in merged:
            merged[theirs] = merged[ours]
    merged.update(_identity(slo))
    return tuple(sorted(merged.items()))


def _rule(rule: Rule, slo: SLO) -> Rule:
    if isinstance(rule, AlertingRule):
        expr = rule.expr.replace(
            _WITHOUT_WINDOW, f"without ({c.LABEL_SLO_WINDOW}, {LABEL_SLOTH_WINDOW})"
        )
        return replace(rule, expr=expr, labels=_labels(rule, slo))
    return replace(rule, labels=_labels(rule, slo))


def _sloth_records(slo: SLO, labels: tuple[tuple[str, str], ...]) -> list[Rule]:
    info = {
        **dict(labels),
        "sloth_mode": "cli-gen-prom",
        "sloth_objective": format_number(slo.objective_ratio * 100),
        "sloth_spec": "prometheus/v1",
        "sloth_version": f"sloengine-{__version__}",
    }
    return [
        RecordingRule(
            TIME_PERIOD_DAYS_RECORD, f"vector({format_number(slo.period_seconds / 86400)})", labels
        ),
        RecordingRule(SLOTH_INFO_RECORD, "vector(1)", tuple(sorted(info.items()))),
    ]


def with_sloth_labels(slo: SLO, groups: tuple[RuleGroup, ...]) -> tuple[RuleGroup, ...]:
    """`slo`'s rule groups (as `slo_rule_groups` made them) with Sloth's labels and records
    added; the records go at the end of the first (main) group."""
    out = []
    for i, group in enumerate(groups):
        rules = [_rule(rule, slo) for rule in group.rules]
        if i == 0:
            meta = dict(slo.labels)
            meta.update({c.LABEL_SLO_SERVICE: slo.service, c.LABEL_SLO_NAME: slo.name})
            meta.update(_identity(slo))
            rules.extend(_sloth_records(slo, tuple(sorted(meta.items()))))
        out.append(replace(group, rules=tuple(rules)))
    return tuple(out)
