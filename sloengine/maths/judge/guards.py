"""One guard, two signals, one statistical core: every guard counts bad events.

- error ratio: bad = 5xx, threshold = the allowed error ratio;
- latency: bad = requests slower than the threshold (from the histogram bucket at the
  threshold), threshold = 1 - quantile ("p95 > 1.5 s" is "more than 5% slower than 1.5 s");
- SLO burn: bad = the SLI's bad events, threshold = burn-rate limit x error budget.

Over the long window (the analysis so far, for a canary younger than it), two anytime-valid
sequential tests (`sequential`) give the two signals:
1. absolute: the canary's bad-event rate is above the threshold;
2. relative: the canary's rate is above the baseline's (conditional on the bad events of
   both), and by a practical effect (`min_ratio_increase`, and for errors an absolute
   difference of `min_delta_fraction` of the threshold).
FAIL needs evidence: both signals at p < alpha, at any traffic. PASS needs power: the
canary is shown under the threshold, or shown not `min_ratio_increase` times worse than
the baseline (a shared problem). Otherwise INCONCLUSIVE, with the reason and how much
more canary traffic would decide at the current rates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sloengine.durations import format_duration
from sloengine.maths.judge._model import (
    ErrorRatioGuard,
    GuardOutcome,
    LatencyQuantileGuard,
    Observation,
    VariantWindow,
    Verdict,
)
from sloengine.maths.judge.sequential import (
    log_mixture_ratio,
    relative_boundary,
    requests_to_decide,
    sequential_p_value,
)
from sloengine.maths.judge.stats import histogram_quantile, pseudo_count_ratio

__all__ = ["BadEvents", "evaluate_error_ratio_guard", "evaluate_latency_guard"]

SEQUENTIAL_TEST = (
    "anytime-valid beta-mixture sequential tests: bad-event rate vs threshold,"
    " canary share of bad events vs baseline"
)


def _window(seconds: float) -> str:
    try:
        return format_duration(seconds)
    except ValueError:
        return f"{seconds:g}s"


def _p(p: float) -> str:
    return f"p={p:.2g}" if p > 1e-300 else "p<1e-300"


@dataclass(frozen=True)
class BadEvents:
    """Bad events out of requests, for the canary and the baseline over one window."""

    canary_bad: float
    canary_total: float
    baseline_bad: float
    baseline_total: float


@dataclass(frozen=True)
class _Signals:
    p_absolute: float  # evidence the canary is over the threshold
    p_relative: float  # evidence the canary is worse than the baseline
    p_under: float  # evidence the canary is under the threshold
    p_not_worse: float  # evidence the canary is not min_ratio_increase x worse
    ratio: float  # canary rate / baseline rate (pseudo-counts: finite)
    more_requests: float | None  # canary requests that would decide, None: unknown
    clean_baseline: bool  # no bad event in the baseline: a ratio would mean little


def _signals(
    ev: BadEvents, threshold: float, margin: float, alpha: float, paired: BadEvents | None = None
) -> _Signals:
    """The four sequential p-values of one guard, and the traffic that would decide it.

    `paired`: the canary over the baseline's times, for the relative tests (default `ev`)."""
    kc, nc = ev.canary_bad, ev.canary_total
    pair = ev if paired is None else paired
    kc_rel, nc_rel = pair.canary_bad, pair.canary_total
    kb, nb = pair.baseline_bad, pair.baseline_total
    p_abs = sequential_p_value(log_mixture_ratio(kc, nc, threshold, "above"))
    p_under = sequential_p_value(log_mixture_ratio(kc, nc, threshold, "below"))
    p_rel = p_not_worse = 1.0
    ratio = pseudo_count_ratio(kc_rel, nc_rel, kb, nb)
    events = kc_rel + kb
    if nc_rel > 0 and nb > 0 and events > 0:
        even = relative_boundary(nc_rel, nb, 1.0)
        p_rel = sequential_p_value(log_mixture_ratio(kc_rel, events, even, "above"))
        worse = relative_boundary(nc_rel, nb, margin)
        p_not_worse = sequential_p_value(log_mixture_ratio(kc_rel, events, worse, "below"))
    more: float | None = None
    if nc > 0:
        rate = kc / nc
        needed = requests_to_decide(rate, nc, threshold, alpha)
        if needed is not None and rate > threshold and p_abs < alpha and events > 0 and nb > 0:
            # Over the threshold already: the relative test decides; its trials are bad
            # events, which grow with canary requests at the current share.
            share = kc_rel / events
            boundary = relative_boundary(nc_rel, nb, 1.0 if share > 0.5 else margin)
            events_needed = requests_to_decide(share, events, boundary, alpha)
            needed = None if events_needed is None else nc_rel * events_needed / events
        more = None if needed is None else max(needed - nc, 0.0)
    return _Signals(p_abs, p_rel, p_under, p_not_worse, ratio, more, kb <= 0)


def _decide(
    s: _Signals, alpha: float, practical: bool, values: str, rps: float
) -> tuple[Verdict, str, bool, bool]:
    """Verdict, reason, absolute and relative signal."""
    absolute = s.p_absolute < alpha
    relative = s.p_relative < alpha and practical
    over = f"over the threshold ({_p(s.p_absolute)})"
    versus = "worse than a clean baseline" if s.clean_baseline else f"{s.ratio:.1f}x the baseline"
    worse = f"{versus} ({_p(s.p_relative)})"
    if absolute and relative:
        return Verdict.FAIL, f"FAIL: {values}; {over} and {worse}", True, True
    if s.p_under < alpha:
        why = f"under the threshold ({_p(s.p_under)})"
        if relative:
            why += f", though {worse}"
        return Verdict.PASS, f"PASS: {values}; {why}", absolute, relative
    if absolute and s.p_not_worse < alpha:
        return Verdict.PASS, (
            f"PASS: {values}; {over} but not worse than the baseline ({_p(s.p_not_worse)}):"
            " a shared problem, not the canary"
        ), True, relative  # fmt: skip
    if absolute:
        why = f"{over}, not yet shown worse than the baseline ({_p(s.p_relative)})"
    elif relative:
        why = f"{worse}, not yet shown over the threshold ({_p(s.p_absolute)})"
    else:
        why = f"not yet shown over ({_p(s.p_absolute)}) or under ({_p(s.p_under)}) the threshold"
    if s.more_requests is None:
        need = "more traffic at the current rates would not decide soon"
    else:
        seconds = 10.0 * math.ceil(max(10.0, s.more_requests / rps) / 10.0) if rps else 0.0
        when = f" (~{_window(seconds)} at {rps:.2g} rps)" if rps else ""
        need = f"about {s.more_requests:.0f} more canary requests{when} would decide"
    return Verdict.INCONCLUSIVE, f"INCONCLUSIVE: {values}; {why}; {need}", absolute, relative


def _no_data(obs: Observation, canary: float, baseline: float) -> str | None:
    long = _window(obs.long_window_seconds)
    if canary <= 0:
        return f"INCONCLUSIVE: no canary data in the last {long}"
    if baseline <= 0:
        return f"INCONCLUSIVE: no baseline data in the last {long}"
    return None


def _outcome(
    name: str,
    obs: Observation,
    verdict: Verdict,
    reason: str,
    threshold: float,
    values: tuple[float, float, float],
    signals: _Signals | None,
    flags: tuple[bool, bool],
    effect: float,
    samples: tuple[float, float],
) -> GuardOutcome:
    p_value = 1.0 if signals is None else max(signals.p_absolute, signals.p_relative)
    more = None if signals is None else signals.more_requests
    return GuardOutcome(
        guard=name,
        verdict=verdict,
        threshold=threshold,
        absolute_breached=flags[0],
        canary_value_short=values[0],
        canary_value_long=values[1],
        baseline_value_long=values[2],
        relative_breached=flags[1],
        p_value=p_value,
        effect_size=effect if math.isfinite(effect) else 0.0,
        test=SEQUENTIAL_TEST,
        canary_samples=samples[0],
        baseline_samples=samples[1],
        min_samples=samples[0] + more if more is not None else 0.0,
        short_window_seconds=obs.short_window_seconds,
        long_window_seconds=obs.long_window_seconds,
        reason=reason,
    )


def _rps(obs: Observation, canary_short: float) -> float:
    return canary_short / obs.short_window_seconds if obs.short_window_seconds > 0 else 0.0


def evaluate_error_ratio_guard(
    guard: ErrorRatioGuard, obs: Observation, alpha: float
) -> GuardOutcome:
    """Error ratio (or SLO burn rate, via `value_scale`) of canary vs baseline."""
    cs, cl, bl = obs.canary_short, obs.canary_long, obs.baseline_long
    scale = guard.value_scale

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
    pl = obs.canary_vs_baseline
    delta = pl.error_ratio - bl.error_ratio
    numbers = (cs.error_ratio * scale, cl.error_ratio * scale, bl.error_ratio * scale)
    samples = (cl.requests, bl.requests)
    missing = _no_data(obs, cl.requests, bl.requests)
    if missing is not None:
        return _outcome(
            guard.name, obs, Verdict.INCONCLUSIVE, missing, guard.max_ratio * scale, numbers,
            None, (False, False), delta * scale, samples,
        )  # fmt: skip
    events = BadEvents(cl.errors, cl.requests, bl.errors, bl.requests)
    paired = BadEvents(pl.errors, pl.requests, bl.errors, bl.requests)
    signals = _signals(events, guard.max_ratio, guard.min_ratio_increase, alpha, paired)
    practical = (
        signals.ratio >= guard.min_ratio_increase
        and delta >= guard.min_delta_fraction * guard.max_ratio
    )
    verdict, reason, absolute, relative = _decide(
        signals, alpha, practical, values, _rps(obs, cs.requests)
    )
    return _outcome(
        guard.name, obs, verdict, reason, guard.max_ratio * scale, numbers, signals,
        (absolute, relative), delta * scale, samples,
    )  # fmt: skip


def _quantile(q: float, w: VariantWindow) -> float:
    return histogram_quantile(q, w.latency_bounds_seconds, w.latency_counts, w.requests)


def slower_than(w: VariantWindow, threshold_s: float) -> float | None:
    """Requests slower than the histogram bound at `threshold_s` (the smallest bound at or
    above it: never counts a request as slow that might not be); None without a histogram
    or a bound at or above the threshold."""
    if not w.has_latency:
        return None
    limit = threshold_s * (1 - 1e-9)
    index = next((i for i, b in enumerate(w.latency_bounds_seconds) if b >= limit), None)
    if index is None:
        return None
    at_or_below = sum(w.latency_counts[: index + 1])
    return min(max(w.requests - at_or_below, 0.0), w.requests)


def evaluate_latency_guard(
    guard: LatencyQuantileGuard, obs: Observation, alpha: float
) -> GuardOutcome:
    """Requests slower than the threshold, canary vs the allowed share and vs baseline."""
    cs, cl, bl = obs.canary_short, obs.canary_long, obs.baseline_long
    q = guard.quantile
    allowed = 1.0 - q
    label = f"p{q * 100:g} latency"
    short, long = _window(obs.short_window_seconds), _window(obs.long_window_seconds)
    p_short, p_long, p_base = _quantile(q, cs), _quantile(q, cl), _quantile(q, bl)
    slow_c, slow_b = slower_than(cl, guard.max_seconds), slower_than(bl, guard.max_seconds)
    share_c = slow_c / cl.requests if slow_c is not None and cl.requests > 0 else 0.0
    share_b = slow_b / bl.requests if slow_b is not None and bl.requests > 0 else 0.0
    values = (
        f"{label} {p_short:.3g}s ({short}) / {p_long:.3g}s ({long}) in canary vs"
        f" {p_base:.3g}s baseline (threshold {guard.max_seconds:g}s:"
        f" {share_c:.1%} vs {share_b:.1%} slower, {allowed:.0%} allowed)"
    )
    numbers = (p_short, p_long, p_base)
    samples = (cl.requests, bl.requests)
    effect = share_c - share_b
    missing = _no_data(obs, cl.requests, bl.requests)
    if missing is None and (slow_c is None or slow_b is None):
        has_histograms = cl.has_latency and bl.has_latency
        missing = (
            f"INCONCLUSIVE: no histogram bucket at or above {guard.max_seconds:g}s"
            if has_histograms
            else "INCONCLUSIVE: no latency histogram in the canary or baseline data"
        )
    if missing is not None or slow_c is None or slow_b is None:
        return _outcome(
            guard.name, obs, Verdict.INCONCLUSIVE, str(missing), guard.max_seconds, numbers,
            None, (False, False), effect, samples,
        )  # fmt: skip
    events = BadEvents(slow_c, cl.requests, slow_b, bl.requests)
    pl = obs.canary_vs_baseline
    slow_p = slower_than(pl, guard.max_seconds) if pl is not cl else slow_c
    paired = BadEvents(slow_c if slow_p is None else slow_p, pl.requests, slow_b, bl.requests)
    signals = _signals(events, allowed, guard.min_ratio_increase, alpha, paired)
    practical = signals.ratio >= guard.min_ratio_increase
    verdict, reason, absolute, relative = _decide(
        signals, alpha, practical, values, _rps(obs, cs.requests)
    )
    return _outcome(
        guard.name, obs, verdict, reason, guard.max_seconds, numbers, signals,
        (absolute, relative), effect, samples,
    )  # fmt: skip
