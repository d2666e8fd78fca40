"""Builds the committed `promtool test rules` files under alerts/tests/ from the Workbook.

The expectations are not typed in by hand: each first-firing step is derived from the SRE
Workbook's detection time for the policy's window pairs, so the tests pin the maths, and the
committed YAML is checked to equal what this module builds (`UPDATE_GOLDEN=1` rewrites it).

Detection time: with a constant error ratio r starting after healthy history, a window of
length W holds the ratio r * t / W after t minutes; a pair (short, long, factor) fires once
both exceed factor * budget, i.e. at t = factor * budget / r * W_long (the long window is the
later one), and promtool's first evaluation at or after that time is ceil(t).

    .venv/bin/python -m tests.rules.promtool_suite    # rewrite alerts/tests/

The rules under test (alerts/tests/slo.rules.yml) are generated from `workbook_slo()`, not
taken from the example catalog, so the expectations do not move when the examples do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sloengine import conventions as c
from sloengine.generate import GenerateOptions, render_alert_files, rules_filename
from sloengine.generate.links import DEFAULT_LINKS
from sloengine.generate.serialize import dump_yaml
from sloengine.model import SLO, BurnRatePolicy, Catalog, NativeSLI
from sloengine.specs.policy import builtin_policy

ROOT = Path(__file__).resolve().parents[2]
TESTS_DIR = ROOT / "alerts" / "tests"
RULES_FILE = "slo.rules.yml"  # generated here, from the SLO below, by the real generator

SERVICE = "example"
SLO_NAME = "requests-availability"
SLO_LABELS = {"team": "sre"}
OBJECTIVE = 0.999
BUDGET = 1 - OBJECTIVE
REQUESTS_PER_MIN = 1000
HEALTHY_MIN = 3 * 24 * 60  # three days of healthy history


@dataclass(frozen=True)
class Detection:
    severity: str
    minutes: float  # Workbook detection time after the burn starts

    @property
    def first_step(self) -> int:
        """The first 1m evaluation at or after the detection time."""
        return math.ceil(self.minutes - 1e-9)


def detection_times(
    policy: BurnRatePolicy, error_ratio: float, budget: float
) -> dict[str, Detection]:
    """Per severity, the earliest Workbook detection time over its window pairs (minutes)."""
    out: dict[str, Detection] = {}
    for window in policy.windows:
        threshold = window.factor * budget
        if error_ratio <= threshold:
            continue
        minutes = threshold / error_ratio * window.long_window_seconds / 60
        best = out.get(window.severity)
        if best is None or minutes < best.minutes:
            out[window.severity] = Detection(window.severity, minutes)
    return out


def _counter(segments: list[tuple[int, float]]) -> str:
    """promtool series notation for a counter growing `per_min` for `minutes` per segment."""
    parts: list[str] = []
    value = 0.0
    first = True
    for minutes, per_min in segments:
        start = value if first else value + per_min
        count = minutes if first else minutes - 1
        parts.append(f"{_num(start)}+{_num(per_min)}x{count}")
        value = start + per_min * count
        first = False
    return " ".join(parts)


def _num(value: float) -> str:
    return f"{value:.10g}"


def _series(status: str) -> str:
    return f'{c.HTTP_REQUESTS_TOTAL}{{service="{SERVICE}",status="{status}"}}'


def _traffic(segments: list[tuple[int, float, float]]) -> list[dict[str, str]]:
    """Input series from (minutes, requests per minute, error ratio) segments."""
    ok = [(m, rpm * (1 - r)) for m, rpm, r in segments]
    bad = [(m, rpm * r) for m, rpm, r in segments]
    return [
        {"series": _series("200"), "values": _counter(ok)},
        {"series": _series("500"), "values": _counter(bad)},
    ]


def _alert(severity: str) -> dict[str, Any]:
    who = f"{SERVICE} {SLO_NAME}"
    return {
        "exp_labels": {
            **SLO_LABELS,
            c.LABEL_SEVERITY: severity,
            c.LABEL_SLO_NAME: SLO_NAME,
            c.LABEL_SLO_SERVICE: SERVICE,
            "slo_severity": severity,
        },
        "exp_annotations": {
            "summary": f"{who} SLO error budget burn rate is over expected.",
            "title": f"({severity}) {who} SLO error budget burn rate is too fast.",
            **dict(DEFAULT_LINKS.annotations(c.SLO_BURN_ALERT, f"slo/{SERVICE}")),
        },
    }


def _at(minute: int, firing: list[str]) -> dict[str, Any]:
    return {
        "eval_time": f"{minute}m",
        "alertname": c.SLO_BURN_ALERT,
        "exp_alerts": [_alert(s) for s in firing],
    }


def burn_detection_test(error_ratio: float, policy: BurnRatePolicy) -> dict[str, Any]:
    """After 3 days healthy, burn at `error_ratio`: each severity first fires at ceil(t)."""
    detections = sorted(
        detection_times(policy, error_ratio, BUDGET).values(), key=lambda d: d.minutes
    )
    last = max(d.first_step for d in detections)
    steps: list[dict[str, Any]] = []
    for detection in detections:
        before = {d.severity for d in detections if d.first_step <= detection.first_step - 1}
        at = {d.severity for d in detections if d.first_step <= detection.first_step}
        order = [s for s in c.SEVERITIES if s in before]
        steps.append(_at(HEALTHY_MIN + detection.first_step - 1, order))
        steps.append(_at(HEALTHY_MIN + detection.first_step, [s for s in c.SEVERITIES if s in at]))
    summary = ", ".join(
        f"{d.severity} at {d.minutes:g}m -> step {d.first_step}" for d in detections
    )
    return {
        "name": f"burn at {error_ratio:g} after 3d healthy: Workbook detection {summary}",
        "interval": "1m",
        "input_series": _traffic(
            [(HEALTHY_MIN, REQUESTS_PER_MIN, 0.0), (last + 2, REQUESTS_PER_MIN, error_ratio)]
        ),
        "alert_rule_test": steps,
    }


def below_threshold_test(error_ratio: float, minutes: int) -> dict[str, Any]:
    """A burn under every factor, for longer than the longest window, never fires."""
    alerts = f'ALERTS{{alertname="{c.SLO_BURN_ALERT}"}}'
    return {
        "name": f"burn at {error_ratio:g} (below every threshold) for {minutes}m never fires",
        "interval": "1m",
        "input_series": _traffic([(minutes + 1, REQUESTS_PER_MIN, error_ratio)]),
        "alert_rule_test": [_at(minutes, [])],
        "promql_expr_test": [
            {
                "expr": f"count_over_time({alerts}[{minutes + 1}m])",
                "eval_time": f"{minutes}m",
                "exp_samples": [],
            },
        ],
    }


# Every recorded series of the sloengine rules, with its name kept as a label so `unless`
# compares series one to one; NaN and +-Inf fail `> -Inf < +Inf`, so what remains is bad.
_RECORDED = 'label_replace({__name__=~"slo:.+"}, "record", "$1", "__name__", "(.+)")'
NON_FINITE = f"{_RECORDED} unless ({_RECORDED} > -Inf < +Inf)"


def zero_traffic_test(healthy_min: int, idle_min: int, resumed_min: int) -> dict[str, Any]:
    """Traffic stops (counters flat), then resumes: no NaN or Inf is ever recorded."""
    total = healthy_min + idle_min + resumed_min
    sel = f'{{slo_service="{SERVICE}",slo_name="{SLO_NAME}"}}'
    labels = {**SLO_LABELS, c.LABEL_SLO_NAME: SLO_NAME, c.LABEL_SLO_SERVICE: SERVICE}
    mid_idle = healthy_min + idle_min - 1
    return {
        "name": f"{idle_min}m of zero traffic leaves no NaN in any recorded series",
        "interval": "1m",
        "input_series": _traffic(
            [
                (healthy_min, REQUESTS_PER_MIN, 0.0005),
                (idle_min, 0, 0.0),
                (resumed_min, REQUESTS_PER_MIN, 0.0005),
            ]
        ),
        "promql_expr_test": [
            # Every minute of the run, in 30m subqueries (promtool caps samples per query).
            *(
                {
                    "expr": f"count_over_time(({NON_FINITE})[30m:1m])",
                    "eval_time": f"{end}m",
                    "exp_samples": [],
                }
                for end in range(30, total, 30)
            ),
            # While idle: no current ratio at all (not NaN), zero event rates ...
            {
                "expr": f"{c.sli_error_ratio_record('5m')}{sel}",
                "eval_time": f"{mid_idle}m",
                "exp_samples": [],
            },
            {
                "expr": f"slo:sli_total_events:rate5m{sel}",
                "eval_time": f"{mid_idle}m",
                "exp_samples": [
                    {
                        "labels": _labels(
                            "slo:sli_total_events:rate5m", {**labels, "slo_window": "5m"}
                        ),
                        "value": 0,
                    }
                ],
            },
            # ... and the period keeps the ratio of what was served: 0.05% of a 0.1% budget.
            {
                "expr": f"{c.PERIOD_ERROR_BUDGET_REMAINING_RECORD}{sel}",
                "eval_time": f"{mid_idle}m",
                "exp_samples": [
                    {
                        "labels": _labels(
                            c.PERIOD_ERROR_BUDGET_REMAINING_RECORD, {**labels, "slo_window": "30d"}
                        ),
                        "value": 0.5,
                    }
                ],
            },
        ],
    }


def _labels(name: str, labels: dict[str, str]) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def workbook_slo() -> SLO:
    """A 99.9% availability SLO over 30 days, under the SRE Workbook policy (the default)."""
    return SLO(
        service=SERVICE,
        name=SLO_NAME,
        objective_ratio=OBJECTIVE,
        sli=NativeSLI("availability", selector=((c.LABEL_SERVICE, SERVICE),)),
        labels=tuple(SLO_LABELS.items()),
    )


def build_files() -> dict[str, str]:
    """File name (in alerts/tests/) -> promtool test YAML, and the rules they test."""
    policy = builtin_policy("sre-workbook-30d")
    rules = render_alert_files(Catalog(slos=(workbook_slo(),)), GenerateOptions(canary=None))
    header = {"rule_files": [RULES_FILE], "evaluation_interval": "1m"}
    files = {
        "workbook-detection.test.yml": {**header, "tests": [burn_detection_test(0.05, policy)]},
        "below-threshold.test.yml": {
            **header,
            "tests": [below_threshold_test(0.00095, HEALTHY_MIN + 60)],
        },
        "zero-traffic.test.yml": {**header, "tests": [zero_traffic_test(24 * 60, 6 * 60, 60)]},
    }
    header_text = (
        "# Generated by tests/rules/promtool_suite.py from the SRE Workbook's detection times;\n"
        "# do not edit (UPDATE_GOLDEN=1 .venv/bin/pytest tests/rules rewrites it).\n"
        "# Run: cd alerts/tests && promtool test rules *.test.yml\n"
    )
    out = {name: dump_yaml(doc, header=header_text) for name, doc in files.items()}
    out[RULES_FILE] = rules[rules_filename(SERVICE)]
    return out


def write_files() -> None:
    TESTS_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in build_files().items():
        (TESTS_DIR / name).write_text(text)


if __name__ == "__main__":
    write_files()
