"""Sloth parity: for Sloth's getting-started spec, our page and ticket alerts fire at exactly
the same evaluation steps as the rules Sloth itself generated, over one promtool run whose
input walks through several error ratios (fast burn, slow burns, recoveries).

Both rule sets are loaded together: their series never collide (Sloth labels `sloth_*`, we
label `slo_*`), and both keep the spec's alert name. Where Sloth and we differ on purpose
(the 30d ratio: average of 5m ratios vs ratio of sums) no alert reads the difference.

The error ratios and request rate are deliberately not round numbers: with round ones a
window's ratio can equal factor * budget exactly, and there the 16th digit of the constant
decides (Sloth writes the budget as 1 - 0.9990000000000001, we as 0.001); real traffic
never lands on such a tie.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from sloengine.generate import GenerateOptions, render_alert_files
from sloengine.generate.serialize import dump_yaml
from sloengine.specs import load_catalog
from tests.support.prometheus import promtool

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "sloth"
SPEC = CORPUS / "examples" / "getting-started.yml"
SLOTH_RULES = CORPUS / "_gen" / "getting-started.yml"
ALERT = "MyServiceHighErrorRate"
RPM = 613

# (minutes, error ratio): a day healthy, then fast, medium and slow burns with recoveries.
PHASES = [
    (1440, 0.0),
    (30, 0.0937),
    (180, 0.0),
    (120, 0.0213),
    (120, 0.0),
    (360, 0.0081),
    (60, 0.0),
    (240, 0.00417),
]


def _counter(per_minute: list[float]) -> str:
    values = [0.0]
    for step in per_minute:
        values.append(values[-1] + step)
    # Runs of equal increments compress to promtool's `a+bxn` notation.
    parts: list[str] = []
    i = 0
    while i < len(values):
        j = i
        step = values[i + 1] - values[i] if i + 1 < len(values) else 0.0
        while j + 1 < len(values) and values[j + 1] - values[j] == step:
            j += 1
        parts.append(f"{values[i]:.10g}+{step:.10g}x{j - i}")
        i = j + 1
    return " ".join(parts)


def _input_series() -> list[dict[str, str]]:
    ok: list[float] = []
    bad: list[float] = []
    for minutes, ratio in PHASES:
        ok += [RPM * (1 - ratio)] * minutes
        bad += [RPM * ratio] * minutes
    series = 'http_request_duration_seconds_count{{job="myservice",code="{code}"}}'
    return [
        {"series": series.format(code="200"), "values": _counter(ok)},
        {"series": series.format(code="500"), "values": _counter(bad)},
    ]


def _firing(severity_label: str, severity: str) -> str:
    return f'ALERTS{{alertname="{ALERT}",alertstate="firing",{severity_label}="{severity}"}}'


def _parity_tests(end: int) -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = []
    for severity in ("page", "ticket"):
        ours, theirs = _firing("slo_severity", severity), _firing("sloth_severity", severity)
        for a, b in ((ours, theirs), (theirs, ours)):
            # Any step where one fires and the other does not.
            tests.append(
                {
                    "expr": f"count_over_time(({a} unless on() {b})[{end}m:1m])",
                    "eval_time": f"{end}m",
                    "exp_samples": [],
                }
            )
        # Both fired at some point, the same number of steps.
        tests.append(
            {
                "expr": f"clamp_max(sum(count_over_time({ours}[{end}m])), 1)",
                "eval_time": f"{end}m",
                "exp_samples": [{"labels": "{}", "value": 1}],
            }
        )
        tests.append(
            {
                "expr": f"sum(count_over_time({ours}[{end}m])) - sum(count_over_time({theirs}[{end}m]))",
                "eval_time": f"{end}m",
                "exp_samples": [{"labels": "{}", "value": 0}],
            }
        )
    return tests


@pytest.mark.integration
def test_page_and_ticket_alerts_fire_at_the_same_steps_as_sloths(tmp_path: Path) -> None:
    if not SPEC.exists() or not SLOTH_RULES.exists():
        pytest.skip(f"Sloth corpus not available at {CORPUS}")
    files = render_alert_files(load_catalog([SPEC]), GenerateOptions(canary=None))
    (tmp_path / "ours.rules.yml").write_text(files["myservice.rules.yml"])
    shutil.copy(SLOTH_RULES, tmp_path / "sloth.rules.yml")
    end = sum(minutes for minutes, _ in PHASES) - 1
    test = {
        "rule_files": ["ours.rules.yml", "sloth.rules.yml"],
        "evaluation_interval": "1m",
        # Without an order promtool may run Sloth's alert group before its recordings
        # (a one-step lag our single group never has); compare both in dependency order.
        "group_eval_order": [
            "sloengine-slo-myservice-requests-availability",
            "sloengine-slo-myservice-requests-availability-period",
            "sloth-slo-sli-recordings-myservice-requests-availability",
            "sloth-slo-meta-recordings-myservice-requests-availability",
            "sloth-slo-alerts-myservice-requests-availability",
        ],
        "tests": [
            {
                "interval": "1m",
                "input_series": _input_series(),
                "promql_expr_test": _parity_tests(end),
            }
        ],
    }
    (tmp_path / "parity.test.yml").write_text(dump_yaml(test))
    result = promtool("test", "rules", "parity.test.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
