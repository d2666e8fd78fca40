"""Burn-rate policies are data: the shipped tables, Sloth's AlertWindows, and bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from sloengine.errors import SpecError
from sloengine.model import factor_from_budget
from sloengine.specs.policy import (
    builtin_policy,
    builtin_policy_names,
    load_policy_file,
    parse_policy,
)

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "sloth" / "examples"


def factors(name: str) -> list[tuple[str, float, float, float]]:
    p = builtin_policy(name)
    return [
        (w.severity, w.short_window_seconds, w.long_window_seconds, round(w.factor, 4))
        for w in p.windows
    ]


def test_default_policy_is_the_sre_workbook_table() -> None:
    assert factors("sre-workbook-30d") == [
        ("page", 300, 3600, 14.4),
        ("page", 1800, 21600, 6.0),
        ("ticket", 7200, 86400, 3.0),
        ("ticket", 21600, 259200, 1.0),
    ]


def test_shipped_policies() -> None:
    assert builtin_policy_names() == (
        "fast-slow",
        "sre-workbook-28d",
        "sre-workbook-30d",
        "sre-workbook-7d",
    )
    assert factors("fast-slow") == [("page", 300, 3600, 10.0), ("ticket", 300, 3600, 2.0)]
    assert builtin_policy("sre-workbook-28d").period_seconds == 28 * 86400


def test_factor_is_budget_share_times_period_over_long_window() -> None:
    assert factor_from_budget(0.02, 30 * 86400, 3600) == pytest.approx(14.4)
    assert factor_from_budget(0.1, 30 * 86400, 3 * 86400) == pytest.approx(1.0)


@pytest.mark.skipif(not CORPUS.exists(), reason="shared corpus not beside the checkout")
def test_sloth_alert_windows_equal_our_workbook_table() -> None:
    sloth = load_policy_file(CORPUS / "windows-google-30d.yaml")
    ours = builtin_policy("sre-workbook-30d")
    assert [(w.severity, w.short_window_seconds, w.long_window_seconds) for w in sloth.windows] == [
        (w.severity, w.short_window_seconds, w.long_window_seconds) for w in ours.windows
    ]
    assert [round(w.factor, 6) for w in sloth.windows] == [round(w.factor, 6) for w in ours.windows]
    assert load_policy_file(CORPUS / "windows-7d.yaml").period_seconds == 7 * 86400


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            {"kind": "Nope", "spec": {}},
            "f.yaml: kind: expected BurnRatePolicy or AlertWindows, got 'Nope'",
        ),
        (
            {
                "kind": "BurnRatePolicy",
                "metadata": {"name": "x"},
                "spec": {"period": "30d", "windows": []},
            },
            "f.yaml: spec.windows: must be a non-empty list",
        ),
        (
            {
                "kind": "BurnRatePolicy",
                "metadata": {"name": "x"},
                "spec": {
                    "period": "30d",
                    "windows": [
                        {"severity": "page", "shortWindow": "1h", "longWindow": "5m", "factor": 2}
                    ],
                },
            },
            "f.yaml: spec.windows[0].shortWindow: must be shorter than longWindow",
        ),
        (
            {
                "kind": "BurnRatePolicy",
                "metadata": {"name": "x"},
                "spec": {
                    "period": "30d",
                    "windows": [
                        {"severity": "urgent", "shortWindow": "5m", "longWindow": "1h", "factor": 2}
                    ],
                },
            },
            "f.yaml: spec.windows[0].severity: must be one of page, ticket",
        ),
        (
            {
                "kind": "BurnRatePolicy",
                "metadata": {"name": "x"},
                "spec": {
                    "period": "30d",
                    "windows": [{"severity": "page", "shortWindow": "5m", "longWindow": "1h"}],
                },
            },
            "f.yaml: spec.windows[0]: needs factor or errorBudgetPercent",
        ),
        (
            {
                "kind": "BurnRatePolicy",
                "metadata": {"name": "x"},
                "spec": {
                    "period": "30d",
                    "windows": [
                        {
                            "severity": "page",
                            "shortWindow": "5m",
                            "longWindow": "1h",
                            "errorBudgetPercent": 140,
                        }
                    ],
                },
            },
            "f.yaml: spec.windows[0].errorBudgetPercent: must be a number in (0, 100]",
        ),
        (
            {"kind": "AlertWindows", "spec": {"sloPeriod": "thirty days"}},
            "f.yaml: spec.sloPeriod: invalid duration 'thirty days' (expected e.g. 5m, 1h, 30d)",
        ),
    ],
)
def test_bad_policies_get_one_line_errors(doc: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(SpecError) as err:
        parse_policy(doc, "f.yaml")
    assert str(err.value) == message


def test_unknown_builtin_policy_lists_the_known_ones() -> None:
    with pytest.raises(SpecError, match="unknown built-in policy 'nope'; known: fast-slow, "):
        builtin_policy("nope")
