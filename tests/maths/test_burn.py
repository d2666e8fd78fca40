"""Burn-rate maths edge cases: zero traffic, all errors, tight objectives, both windows."""

from __future__ import annotations

import math

import pytest

from sloengine.maths import burn


def test_zero_traffic_is_ratio_zero_not_nan() -> None:
    assert burn.error_ratio(0, 0) == 0.0
    assert burn.burn_rate(burn.error_ratio(0, 0), 0.999) == 0.0
    assert burn.budget_consumed(0, 0, 0.999) == 0.0
    assert burn.budget_remaining(0, 0, 0.999) == 1.0


def test_all_errors_burn_at_the_inverse_of_the_budget() -> None:
    assert burn.error_ratio(50, 50) == 1.0
    assert burn.burn_rate(1.0, 0.99) == pytest.approx(100.0)
    assert burn.budget_remaining(50, 50, 0.99) == pytest.approx(-99.0)


def test_objective_three_nines() -> None:
    ratio = burn.error_ratio(144, 10_000)
    assert burn.burn_rate(ratio, 0.999) == pytest.approx(14.4)
    assert burn.budget_consumed(5, 10_000, 0.999) == pytest.approx(0.5)
    assert burn.budget_remaining(5, 10_000, 0.999) == pytest.approx(0.5)


def test_objective_of_one_has_no_budget() -> None:
    assert burn.burn_rate(0.0, 1.0) == 0.0
    assert burn.burn_rate(0.01, 1.0) == math.inf


def test_fire_needs_both_windows_strictly_above_the_factor() -> None:
    budget = 1 - 0.999
    assert burn.multiwindow_firing(0.02, 0.02, 14.4, 0.999)
    assert not burn.multiwindow_firing(0.02, 0.01, 14.4, 0.999)
    assert not burn.multiwindow_firing(0.01, 0.02, 14.4, 0.999)
    # exactly at the threshold does not fire, like the rules' `ratio > factor * budget`
    assert not burn.multiwindow_firing(14.4 * budget, 14.4 * budget, 14.4, 0.999)
    assert not burn.multiwindow_firing(0.0, 0.0, 1.0, 0.999)
