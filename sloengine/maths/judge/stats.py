"""Statistics of the judge: pure functions of counts, numpy/scipy only.

The judge's tests are the sequential ones (`sequential`); the fixed-n helpers here are
references (tests and docs compare against them) and small shared pieces.

- `histogram_quantile`: Prometheus' histogram_quantile on non-cumulative bucket counts.
- `pseudo_count_ratio`: a rate ratio that stays finite with a zero baseline.
- `rate_increase_test`: one-sided fixed-n exact test that the canary's event rate exceeds the
  baseline's. Conditional on the total number of bad events E, under H0 (equal rates) the
  canary's share is Binomial(E, n_c / (n_c + n_b)) (the Przyborowski-Wilenski exact test for
  two Poisson rates; for small ratios it matches Fisher's exact test). It is well defined
  when the baseline has zero bad events, where Kayenta's mean ratio is NaN.
- `min_samples_to_bound_ratio`: the fewest requests that can tell a ratio of `ratio` from 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

__all__ = [
    "histogram_quantile",
    "min_samples_to_bound_ratio",
    "pseudo_count_ratio",
    "rate_increase_test",
]


def histogram_quantile(
    q: float, bounds: Sequence[float], counts: Sequence[float], total: float
) -> float:
    """The q-quantile of a histogram, interpolated linearly inside its bucket.

    Same rules as Prometheus: the first bucket starts at 0 (for a positive bound); a rank
    in the overflow (+Inf) bucket returns the last finite bound. Returns 0 for an empty
    histogram (the caller reports "no data" before asking).
    """
    if total <= 0 or not bounds:
        return 0.0
    cumulative = np.cumsum(np.asarray(counts, dtype=float))
    rank = q * total
    idx = int(np.searchsorted(cumulative, rank, side="left"))
    if idx >= len(bounds):
        return float(bounds[-1])
    upper = float(bounds[idx])
    lower = float(bounds[idx - 1]) if idx > 0 else min(0.0, upper)
    below = float(cumulative[idx - 1]) if idx > 0 else 0.0
    in_bucket = float(cumulative[idx]) - below
    if in_bucket <= 0:
        return upper
    return lower + (upper - lower) * (rank - below) / in_bucket


def rate_increase_test(
    canary_bad: float, canary_total: float, baseline_bad: float, baseline_total: float
) -> float:
    """One-sided p-value for "the canary's bad-event rate is higher than the baseline's".

    Exact conditional binomial test (see module docstring); counts are rounded to whole
    events. Returns 1.0 when there is nothing to test (no bad events or no traffic).
    """
    if canary_total <= 0 or baseline_total <= 0:
        return 1.0
    k = round(canary_bad)
    n = k + round(baseline_bad)
    if k <= 0 or n <= 0:
        return 1.0
    share = canary_total / (canary_total + baseline_total)
    return float(stats.binom.sf(k - 1, n, share))


def pseudo_count_ratio(
    canary_bad: float, canary_total: float, baseline_bad: float, baseline_total: float
) -> float:
    """Canary ratio / baseline ratio with a 0.5 pseudo-count (Haldane-Anscombe): always finite."""
    canary = (canary_bad + 0.5) / (canary_total + 1.0)
    baseline = (baseline_bad + 0.5) / (baseline_total + 1.0)
    return canary / baseline


def min_samples_to_bound_ratio(ratio: float, alpha: float) -> float:
    """Fewest requests for which a clean window rules out a true ratio of `ratio` at `alpha`.

    With n requests and no bad ones, the one-sided (1 - alpha) upper confidence bound on
    the ratio is about -ln(alpha) / n (the "rule of three" for alpha = 0.05). Below
    n = -ln(alpha) / ratio even a perfect window cannot show the canary is under the
    threshold, so no verdict can be supported: 346 requests for 2% at alpha = 0.001, and
    139 for a p95 guard (5% of requests above the threshold latency).
    """
    if not 0 < ratio < 1 or not 0 < alpha < 1:
        raise ValueError(f"ratio and alpha must be in (0, 1), got {ratio!r}, {alpha!r}")
    return float(math.ceil(-math.log(alpha) / ratio))
