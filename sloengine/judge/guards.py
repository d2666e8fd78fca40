"""One guard, two signals: the absolute threshold and the relative comparison to baseline.

A guard FAILs only when both signals agree:
1. absolute: the canary breaches the threshold in both the short and the long window, and
   the long window holds enough data of its own (older than the short window) to confirm
   that the breach is sustained, not a burst;
2. relative: over the long window the canary is worse than the baseline with p < alpha
   AND by a practical effect size.
Before either is looked at, the guard needs enough traffic to support a decision
(`stats.min_samples_to_bound_ratio`); below that it is INCONCLUSIVE, never PASS or FAIL.
"""

from __future__ import annotations

from sloengine.durations import format_duration
from sloengine.judge._model import (
    ErrorRatioGuard,
    GuardOutcome,
    LatencyQuantileGuard,
    Observation,
    VariantWindow,
    Verdict,
)
from sloengine.judge.stats import (
    align_histograms,
    bucketed_mann_whitney,
    histogram_quantile,
    min_samples_to_bound_ratio,
    pseudo_count_ratio,
    rate_increase_test,
)

__all__ = ["evaluate_error_ratio_guard", "evaluate_latency_guard"]

RATE_TEST = "exact conditional binomial (Poisson rates), one-sided"
RANK_TEST = "Mann-Whitney U on histogram buckets (tie-corrected), one-sided"


def _window(seconds: float) -> str:
    try:
        return format_duration(seconds)
    except ValueError:
        return f"{seconds:g}s"


def _p(p: float) -> str:
    return f"p={p:.2g}" if p > 1e-300 else "p<1e-300"


def _low_traffic(
    what: str, canary_short: float, baseline_long: float, min_n: float, obs: Observation
) -> str | None:
    """The INCONCLUSIVE reason when traffic cannot support a verdict, else None."""
    short, long = _window(obs.short_window_seconds), _window(obs.long_window_seconds)
    if canary_short <= 0:
        return f"INCONCLUSIVE: no canary data in the last {short}"
    if baseline_long <= 0:
        return f"INCONCLUSIVE: no baseline data in the last {long}"
    if canary_short < min_n:
        return (
            f"INCONCLUSIVE: {canary_short:.0f} canary requests in {short}, {min_n:.0f} needed"
            f" to tell {what}"
        )
    if baseline_long < min_n:
        return (
            f"INCONCLUSIVE: {baseline_long:.0f} baseline requests in {long}, {min_n:.0f} needed"
            f" to tell {what}"
        )
    return None


def _unconfirmed(canary_short: float, canary_long: float, min_n: float, obs: Observation) -> str:
    """The INCONCLUSIVE reason when the long window holds too little data of its own.

    A canary younger than the short window has the same data in both windows, so "breached
    in both" would not show a sustained problem: one bad burst in the first minute would
    do. The long window confirms only with at least `min_n` canary requests older than the
    short window (the same bound as for the short window itself); until then, a breach of
    both signals is INCONCLUSIVE.
    """
    older = max(canary_long - canary_short, 0.0)
    if older >= min_n:
        return ""
    short = _window(obs.short_window_seconds)
    return (
        f"not yet confirmed by the long window: {older:.0f} canary requests older than {short},"
        f" {min_n:.0f} needed"
    )


def _decide(
    values: str,
    evidence: str,
    *,
    absolute: bool,
    relative: bool,
    inconclusive: str | None,
    unconfirmed: str,
) -> tuple[Verdict, str]:
    """The guard's verdict and its one-line reason from the two signals."""
    if inconclusive is not None:
        return Verdict.INCONCLUSIVE, inconclusive
    if absolute and relative:
        if unconfirmed:
            return Verdict.INCONCLUSIVE, f"INCONCLUSIVE: {values}, {evidence}; {unconfirmed}"
        return Verdict.FAIL, f"FAIL: {values}, {evidence}"
    if absolute:
        return Verdict.PASS, (
            f"PASS: {values}; not clearly worse than the baseline ({evidence}):"
            " a shared problem, not the canary"
        )
    if relative:
        return (
            Verdict.PASS,
            f"PASS: {values}; worse than baseline ({evidence}) but under the threshold",
        )
    return Verdict.PASS, f"PASS: {values}"


def evaluate_error_ratio_guard(
    guard: ErrorRatioGuard, obs: Observation, alpha: float
) -> GuardOutcome:
    """Error ratio (or SLO burn rate, via `value_scale`) of canary vs baseline."""
    cs, cl, bl = obs.canary_short, obs.canary_long, obs.baseline_long
    scale = guard.value_scale
    min_n = min_samples_to_bound_ratio(guard.max_ratio, alpha)
    p_value = rate_increase_test(cl.errors, cl.requests, bl.errors, bl.requests)
    ratio = pseudo_count_ratio(cl.errors, cl.requests, bl.errors, bl.requests)
    delta = cl.error_ratio - bl.error_ratio
    absolute = cs.error_ratio > guard.max_ratio and cl.error_ratio > guard.max_ratio
    relative = (
        p_value < alpha
        and ratio >= guard.min_ratio_increase
        and delta >= guard.min_delta_fraction * guard.max_ratio
    )

    def fmt(ratio_value: float) -> str:
        if guard.unit == "%":
            return f"{ratio_value * 100:.2g}%" if ratio_value < 0.01 else f"{ratio_value:.1%}"
        return f"{ratio_value * scale:.3g}{guard.unit}"

    slo = guard.name.removeprefix("slo_burn:")
    label = f"burn rate of SLO {slo}" if slo != guard.name else guard.name.replace("_", " ")
    short, long = _window(obs.short_window_seconds), _window(obs.long_window_seconds)
    values = (
        f"{label} {fmt(cs.error_ratio)} ({short}) / {fmt(cl.error_ratio)} ({long}) in canary"
        f" vs {fmt(bl.error_ratio)} baseline (threshold {fmt(guard.max_ratio)})"
    )
    what = f"{label} {fmt(guard.max_ratio)} from 0"
    inconclusive = _low_traffic(what, cs.requests, bl.requests, min_n, obs)
    unconfirmed = _unconfirmed(cs.requests, cl.requests, min_n, obs)
    versus = "error-free baseline" if bl.errors == 0 else f"{ratio:.1f}x the baseline"
    verdict, reason = _decide(
        values, f"{versus}, {_p(p_value)}", absolute=absolute, relative=relative,
        inconclusive=inconclusive, unconfirmed=unconfirmed,
    )  # fmt: skip
    return GuardOutcome(
        guard=guard.name,
        verdict=verdict,
        threshold=guard.max_ratio * scale,
        absolute_breached=absolute,
        canary_value_short=cs.error_ratio * scale,
        canary_value_long=cl.error_ratio * scale,
        baseline_value_long=bl.error_ratio * scale,
        relative_breached=relative,
        p_value=p_value,
        effect_size=delta * scale,
        test=RATE_TEST,
        canary_samples=cs.requests,
        baseline_samples=bl.requests,
        min_samples=min_n,
        short_window_seconds=obs.short_window_seconds,
        long_window_seconds=obs.long_window_seconds,
        reason=reason,
    )


def _quantile(q: float, w: VariantWindow) -> float:
    return histogram_quantile(q, w.latency_bounds_seconds, w.latency_counts, w.requests)


def evaluate_latency_guard(
    guard: LatencyQuantileGuard, obs: Observation, alpha: float
) -> GuardOutcome:
    """Latency quantile from histogram buckets, canary vs baseline."""
    cs, cl, bl = obs.canary_short, obs.canary_long, obs.baseline_long
    q = guard.quantile
    # "p95 > 1.5 s" is "more than 5% of requests slower than 1.5 s": a ratio guard on slow
    # requests, so the same derivation gives the minimum sample size.
    min_n = min_samples_to_bound_ratio(1.0 - q, alpha)
    label = f"p{q * 100:g} latency"
    short, long = _window(obs.short_window_seconds), _window(obs.long_window_seconds)
    canary_short_n = cs.requests if cs.has_latency else 0.0
    baseline_long_n = bl.requests if bl.has_latency else 0.0
    p_short, p_long, p_base = _quantile(q, cs), _quantile(q, cl), _quantile(q, bl)
    p_value, effect = 1.0, 0.0
    if cl.has_latency and bl.has_latency:
        bounds, a, b = align_histograms(
            cl.latency_bounds_seconds, cl.latency_counts, cl.requests,
            bl.latency_bounds_seconds, bl.latency_counts, bl.requests,
        )  # fmt: skip
        p_value, _ = bucketed_mann_whitney(a, b)
        floor = min((x for x in bounds if x > 0), default=1e-3)
        effect = p_long / max(p_base, floor) - 1.0
    absolute = p_short > guard.max_seconds and p_long > guard.max_seconds
    relative = p_value < alpha and effect >= guard.min_relative_increase
    values = (
        f"{label} {p_short:.3g}s ({short}) / {p_long:.3g}s ({long}) in canary vs"
        f" {p_base:.3g}s baseline (threshold {guard.max_seconds:g}s)"
    )
    inconclusive = _low_traffic(
        f"a {label} above {guard.max_seconds:g}s", canary_short_n, baseline_long_n, min_n, obs
    )
    if (
        inconclusive is not None
        and (cs.requests > 0 and bl.requests > 0)
        and not (cs.has_latency and bl.has_latency)
    ):
        inconclusive = "INCONCLUSIVE: no latency histogram in the canary or baseline data"
    canary_long_n = cl.requests if cl.has_latency else 0.0
    unconfirmed = _unconfirmed(canary_short_n, canary_long_n, min_n, obs)
    verdict, reason = _decide(
        values, f"{effect:+.0%} vs baseline, {_p(p_value)}", absolute=absolute,
        relative=relative, inconclusive=inconclusive, unconfirmed=unconfirmed,
    )  # fmt: skip
    return GuardOutcome(
        guard=guard.name,
        verdict=verdict,
        threshold=guard.max_seconds,
        absolute_breached=absolute,
        canary_value_short=p_short,
        canary_value_long=p_long,
        baseline_value_long=p_base,
        relative_breached=relative,
        p_value=p_value,
        effect_size=effect,
        test=RANK_TEST,
        canary_samples=canary_short_n,
        baseline_samples=baseline_long_n,
        min_samples=min_n,
        short_window_seconds=obs.short_window_seconds,
        long_window_seconds=obs.long_window_seconds,
        reason=reason,
    )
