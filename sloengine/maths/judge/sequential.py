"""Anytime-valid sequential tests on counts of bad events: pure maths, numpy/scipy only.

A canary controller looks at the verdict every 10-30 s for the whole analysis; a fixed-n
p-value checked at every look inflates false positives. These tests stay valid under
continuous monitoring: for any looking schedule, even one chosen from the data,
P(a test ever rejects a true null) <= alpha.

Method (Robbins' method of mixtures, as in Lindon, Sanden & Shirikian, "Rapid Regression
Detection in Software Deployments through Sequential Testing", KDD 2022, and Lindon & Malek,
"Anytime-Valid Inference for Multinomial Count Data", NeurIPS 2022). Every request is a
Bernoulli trial (bad or not). For a boundary rate p0 and a prior pi on the alternative side
of p0, the mixture likelihood ratio

    M_n = integral of  q^k (1-q)^(n-k) / (p0^k (1-p0)^(n-k))  pi(dq)

after n trials with k bad is a non-negative supermartingale with M_0 = 1 under every rate
on the null side: for q > p0 >= p, one trial multiplies by q/p0 (bad) or (1-q)/(1-p0)
(good), whose expectation p*q/p0 + (1-p)(1-q)/(1-p0) is linear in p, 1 at p = p0 and
increasing, so <= 1. Ville's inequality gives P(sup_n M_n >= 1/alpha) <= alpha, hence the
sequential p-value min(1, 1/M_n) is valid at every look. With a beta prior truncated to
one side of p0 the integral has a closed form (beta functions and the regularised
incomplete beta), and M_n depends on (n, k) only, so the value at a look needs no history.

The prior is an equal-weight mixture of Beta(c*p0, c*(1-p0)) truncated to the tested side,
over concentrations c in `PRIOR_CONCENTRATIONS`: a small c keeps power against blatant
breaches after a few requests, a large c against subtle ones after thousands (a mixture of
test martingales is one).

Two uses, one core:
- absolute: the canary's bad-event rate against the guard's threshold (p0 = threshold);
- relative: conditional on the bad events of canary and baseline together, each is the
  canary's with probability theta = r*n_c / (r*n_c + n_b) when the canary's rate is r
  times the baseline's (n_c, n_b: requests). Rates that vary in time the same way for both
  variants cancel (Lindon & Malek's time-inhomogeneous Poisson processes), so shared
  outages do not count against the canary. `relative_boundary` gives theta for a ratio r.
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import special

__all__ = [
    "PRIOR_CONCENTRATIONS",
    "Side",
    "log_mixture_ratio",
    "log_mixture_ratios",
    "rate_confidence_sequence",
    "relative_boundary",
    "requests_to_decide",
    "sequential_p_value",
]

Side = Literal["above", "below"]

PRIOR_CONCENTRATIONS: tuple[float, ...] = (10.0, 100.0, 1000.0)


@functools.lru_cache(maxsize=1024)
def _prior_mass(c: float, p0: float, side: Side) -> float:
    """Mass of the Beta(c*p0, c*(1-p0)) prior on the tested side of p0 (its truncation)."""
    tail = special.betaincc if side == "above" else special.betainc
    return float(tail(c * p0, c * (1 - p0), p0))


def log_mixture_ratio(bad: float, total: float, p0: float, side: Side) -> float:
    """log M_n: evidence that the bad-event rate is `side` (above/below) the boundary `p0`.

    `bad` of `total` trials were bad (real counts are accepted: sums of sampled counters).
    Floored at 0, i.e. log max(1, M_n): 0 with no trials or no evidence, large and positive
    with evidence against the null side. Every use compares with log(1/alpha) > 0 or takes
    the p-value min(1, 1/M), so the floor changes no decision. It matters for arithmetic:
    when the observed rate is on the null side of `p0`, every mixture component's likelihood
    ratio is <= 1 (the likelihood falls away from its maximum), so M_n <= 1 exactly, while
    the posterior tail below would be a product of e^+900 and an underflowed e^-900.
    """
    if not 0 < p0 < 1:
        raise ValueError(f"boundary p0 must be in (0, 1), got {p0!r}")
    if total <= 0:
        return 0.0
    if not 0 <= bad <= total * (1 + 1e-9):
        raise ValueError(f"bad must be in [0, total], got {bad!r} of {total!r}")
    bad = min(bad, total)
    if (bad <= p0 * total) if side == "above" else (bad >= p0 * total):
        return 0.0
    good = total - bad
    tail = special.betaincc if side == "above" else special.betainc
    null = bad * math.log(p0) + good * math.log1p(-p0)
    terms = []
    for c in PRIOR_CONCENTRATIONS:
        a, b = c * p0, c * (1 - p0)
        posterior_mass = float(tail(a + bad, b + good, p0))
        if posterior_mass <= 0:
            continue
        prior_mass = _prior_mass(c, p0, side)
        beta_ratio = float(special.betaln(a + bad, b + good) - special.betaln(a, b))
        terms.append(beta_ratio + math.log(posterior_mass) - math.log(prior_mass) - null)
    if not terms:
        return 0.0
    top = max(terms)
    log_m = top + math.log(sum(math.exp(t - top) for t in terms) / len(PRIOR_CONCENTRATIONS))
    return max(log_m, 0.0)


def log_mixture_ratios(
    bad: npt.NDArray[np.float64], total: npt.NDArray[np.float64], p0: float, side: Side
) -> npt.NDArray[np.float64]:
    """`log_mixture_ratio` over arrays of counts (simulations and tests use many at once)."""
    if not 0 < p0 < 1:
        raise ValueError(f"boundary p0 must be in (0, 1), got {p0!r}")
    total = np.maximum(np.asarray(total, dtype=float), 0.0)
    bad = np.clip(np.asarray(bad, dtype=float), 0.0, total)
    good = total - bad
    tail = special.betaincc if side == "above" else special.betainc
    null = bad * math.log(p0) + good * math.log1p(-p0)
    terms = []
    with np.errstate(divide="ignore"):
        for c in PRIOR_CONCENTRATIONS:
            a, b = c * p0, c * (1 - p0)
            prior_mass = math.log(float(tail(a, b, p0)))
            posterior_mass = np.log(tail(a + bad, b + good, p0))
            beta_ratio = special.betaln(a + bad, b + good) - special.betaln(a, b)
            terms.append(beta_ratio + posterior_mass - prior_mass - null)
    stacked = np.stack(terms)
    out = special.logsumexp(stacked, axis=0) - math.log(len(PRIOR_CONCENTRATIONS))
    # As in log_mixture_ratio: M <= 1 on the null side, where the tails underflow.
    null_side = bad <= p0 * total if side == "above" else bad >= p0 * total
    return np.where((total > 0) & ~null_side, np.maximum(np.nan_to_num(out, nan=0.0), 0.0), 0.0)


def sequential_p_value(log_ratio: float) -> float:
    """min(1, 1/M): a p-value that stays valid however often and whenever it is looked at."""
    return 1.0 if log_ratio <= 0 else math.exp(-log_ratio)


def relative_boundary(canary_total: float, baseline_total: float, ratio: float) -> float:
    """The canary's share of bad events when its rate is `ratio` times the baseline's."""
    if canary_total <= 0 or baseline_total <= 0 or ratio <= 0:
        raise ValueError("canary_total, baseline_total and ratio must be > 0")
    weighted = ratio * canary_total
    return weighted / (weighted + baseline_total)


def requests_to_decide(
    rate: float, done: float, p0: float, alpha: float, *, limit: float = 1e9
) -> float | None:
    """Total trials after which the test would decide if the rate stayed at `rate`.

    The side is the one `rate` is on; None when `rate == p0` or the limit is reached (more
    traffic would not decide soon). Returns at least `done`.
    """
    if rate == p0 or not 0 <= rate <= 1:
        return None
    side: Side = "above" if rate > p0 else "below"
    goal = math.log(1 / alpha)

    def decided(n: float) -> bool:
        return log_mixture_ratio(rate * n, n, p0, side) >= goal

    lo, hi = max(done, 1.0), max(done, 1.0)
    while not decided(hi):
        lo, hi = hi, hi * 2
        if hi > limit:
            return None
    if hi == lo:
        return hi
    while hi - lo > max(1.0, 0.05 * hi):  # 5% is precise enough for "about N more"
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if decided(mid) else (mid, hi)
    return math.ceil(hi)


def rate_confidence_sequence(bad: float, total: float, alpha: float) -> tuple[float, float]:
    """Anytime-valid (1 - alpha) bounds on the bad-event rate: the boundaries not rejected.

    Each side is the one-sided test above at alpha / 2; the set of p0 that neither side
    rejects covers the true rate at every look at once with probability >= 1 - alpha.
    """
    if total <= 0:
        return 0.0, 1.0
    goal = math.log(2 / alpha)
    mle = min(max(bad / total, 0.0), 1.0)

    def edge(side: Side, inside: float, outside: float) -> float:
        # log M at p0 grows as p0 moves away from the estimate: bisect for the crossing.
        if log_mixture_ratio(bad, total, outside, side) < goal:
            return outside
        for _ in range(40):
            mid = (inside + outside) / 2
            if log_mixture_ratio(bad, total, mid, side) >= goal:
                outside = mid
            else:
                inside = mid
        return outside

    tiny = 1e-12
    lower = edge("above", min(max(mle, 2 * tiny), 1 - tiny), tiny)
    upper = edge("below", max(min(mle, 1 - 2 * tiny), tiny), 1 - tiny)
    return float(np.clip(lower, 0.0, 1.0)), float(np.clip(upper, 0.0, 1.0))
