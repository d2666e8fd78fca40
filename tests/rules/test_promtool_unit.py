"""The committed promtool unit tests (alerts/tests/) are current, and pass.

They prove, on the generated rules of a 99.9% 30d SLO under the SRE Workbook policy
(alerts/tests/slo.rules.yml), that page and ticket alerts first fire at the Workbook's detection time, that a
burn below every threshold never fires, and that zero traffic records no NaN.
"""

from __future__ import annotations

import os

import pytest

from sloengine.specs.policy import builtin_policy
from tests.rules.promtool_suite import BUDGET, TESTS_DIR, build_files, detection_times
from tests.support.prometheus import promtool_test_rules


def test_workbook_detection_times_follow_factor_budget_over_ratio_times_window() -> None:
    times = detection_times(builtin_policy("sre-workbook-30d"), 0.05, BUDGET)
    # page: 14.4 * 0.001 / 0.05 * 60m; ticket: 3 * 0.001 / 0.05 * 1440m (= 1x over 3d).
    assert times["page"].minutes == pytest.approx(17.28)
    assert times["page"].first_step == 18
    assert times["ticket"].minutes == pytest.approx(86.4)
    assert times["ticket"].first_step == 87


def test_a_burn_below_every_factor_has_no_detection_time() -> None:
    assert detection_times(builtin_policy("sre-workbook-30d"), 0.00095, BUDGET) == {}


def test_committed_promtool_tests_are_current() -> None:
    built = build_files()
    if os.environ.get("UPDATE_GOLDEN") == "1":
        for name, text in built.items():
            (TESTS_DIR / name).write_text(text)
    committed = {p.name: p.read_text() for p in TESTS_DIR.glob("*.yml")}
    assert committed == built, (
        "alerts/tests/ is stale: UPDATE_GOLDEN=1 .venv/bin/pytest tests/rules"
    )


@pytest.mark.integration
def test_promtool_unit_tests_pass() -> None:
    # One promtool per file, concurrently: each replays days of 1m samples.
    names = sorted(p.name for p in TESTS_DIR.glob("*.test.yml"))
    failed = promtool_test_rules(TESTS_DIR, names, timeout_s=280)
    failures = [f"{name}:\n{out}" for name, out in failed.items()]
    assert not failures, "\n".join(failures)
