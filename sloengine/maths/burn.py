"""Burn-rate maths: error ratios, burn rates, error budgets, multi-window alert firing.

Pure functions of numbers, with the semantics of the generated Prometheus rules
(`sloengine/generate/rules.py`):
- an error ratio is a ratio of sums, `errors / requests` over the window, and 0 when the
  window saw no requests (the rules guard the division so zero traffic is never NaN);
- burn rate = error ratio / error budget, where budget = 1 - objective;
- budget consumed over the period = period errors / (budget * period requests), which is
  the period burn rate; remaining = 1 - consumed (negative once the budget is overspent);
- a multi-window multi-burn-rate alert fires when BOTH windows' error ratios exceed
  `factor * budget`, compared exactly like the rules' `ratio > factor * (1 - objective)`.

An objective of 1 leaves no budget: any error burns at +Inf, no error at 0.

Each formula also has an `_array` form over numpy arrays (a replay evaluates a month of
minutes at once). Both forms are written here side by side, share `error_budget` and
`alert_threshold_ratio`, and are pinned equal element by element in tests/replay.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = [
    "alert_threshold_ratio",
    "budget_consumed",
    "budget_remaining",
    "burn_rate",
    "burn_rate_array",
    "error_budget",
    "error_ratio",
    "error_ratio_array",
    "multiwindow_firing",
    "multiwindow_firing_array",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def error_ratio(errors: float, requests: float) -> float:
    """`errors / requests`, or 0 when there were no requests."""
    if requests <= 0:
        return 0.0
    return errors / requests


def error_budget(objective_ratio: float) -> float:
    """The share of events allowed to be bad: `1 - objective`."""
    return 1.0 - objective_ratio


def burn_rate(ratio: float, objective_ratio: float) -> float:
    """How many times faster than sustainable the budget burns: ratio / (1 - objective)."""
    budget = error_budget(objective_ratio)
    if budget <= 0:
        return math.inf if ratio > 0 else 0.0
    return ratio / budget


def budget_consumed(period_errors: float, period_requests: float, objective_ratio: float) -> float:
    """Share of the period's error budget spent: errors / (budget * requests); 0 without traffic."""
    return burn_rate(error_ratio(period_errors, period_requests), objective_ratio)


def budget_remaining(period_errors: float, period_requests: float, objective_ratio: float) -> float:
    """`1 - budget_consumed(...)`; negative once the budget is overspent."""
    return 1.0 - budget_consumed(period_errors, period_requests, objective_ratio)


def multiwindow_firing(
    short_ratio: float, long_ratio: float, factor: float, objective_ratio: float
) -> bool:
    """True when both windows' error ratios exceed `factor` times the error budget."""
    threshold = alert_threshold_ratio(factor, objective_ratio)
    return short_ratio > threshold and long_ratio > threshold


def alert_threshold_ratio(factor: float, objective_ratio: float) -> float:
    """The error ratio both windows must exceed: `factor * (1 - objective)`."""
    return factor * error_budget(objective_ratio)


# --- the same formulas over arrays (one value per evaluation time) ---------------------------


def error_ratio_array(errors: FloatArray, requests: FloatArray) -> FloatArray:
    """`error_ratio` element-wise: errors / requests, 0 where there were no requests."""
    out = np.zeros(np.shape(requests), dtype=np.float64)
    np.divide(errors, requests, out=out, where=np.asarray(requests) > 0)
    return out


def burn_rate_array(ratio: FloatArray, objective_ratio: float) -> FloatArray:
    """`burn_rate` element-wise."""
    budget = error_budget(objective_ratio)
    if budget <= 0:
        return np.where(np.asarray(ratio) > 0, math.inf, 0.0)
    return np.asarray(ratio, dtype=np.float64) / budget


def multiwindow_firing_array(
    short_ratio: FloatArray, long_ratio: FloatArray, factor: float, objective_ratio: float
) -> BoolArray:
    """`multiwindow_firing` element-wise."""
    threshold = alert_threshold_ratio(factor, objective_ratio)
    return (np.asarray(short_ratio) > threshold) & (np.asarray(long_ratio) > threshold)
