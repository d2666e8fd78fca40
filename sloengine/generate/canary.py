"""Canary guard alerts: the canary breaches a threshold in a short AND a long window, and
is worse than the baseline, so the release is rolled back (`rollback="true"`).

    CanaryErrorRateHigh    canary 5xx ratio > max_error_ratio over both windows
    CanaryLatencyP95High   canary p95 (histogram_quantile) > max_p95_seconds over both windows

Both are suppressed (`unless`) while the baseline is at least as bad over the long window:
an outage that hits every variant alike is not the canary's fault, and rolling it back
would not help. Without baseline traffic the threshold alone decides. The annotations
state the canary's and the baseline's values, so a human reading the page sees both.
"""

from __future__ import annotations

from dataclasses import dataclass

from sloengine import conventions as c
from sloengine.durations import format_duration, format_number, parse_duration_seconds
from sloengine.generate.links import DEFAULT_LINKS, AlertLinks
from sloengine.generate.rules import AlertingRule, RuleGroup
from sloengine.generate.sli_promql import label_matchers

__all__ = ["CanaryGuardOptions", "canary_rule_group"]


@dataclass(frozen=True)
class CanaryGuardOptions:
    """Thresholds and windows of the canary guard alerts."""

    max_error_ratio: float = c.DEFAULT_CANARY_MAX_ERROR_RATIO
    max_p95_seconds: float = c.DEFAULT_CANARY_MAX_P95_SECONDS
    short_window: str = "5m"
    long_window: str = "1h"
    canary_variant: str = c.VARIANT_CANARY
    baseline_variant: str = c.VARIANT_BASELINE
    # How long both windows must stay breached before the alert fires (Prometheus `for:`);
    # "" fires at once. A hold lets a statistical verdict speak first where both run.
    hold_for: str = ""

    def __post_init__(self) -> None:
        if not 0 < self.max_error_ratio < 1:
            raise ValueError(
                f"canary max error ratio must be in (0, 1), got {self.max_error_ratio}"
            )
        if not self.max_p95_seconds > 0:
            raise ValueError(f"canary max p95 must be positive, got {self.max_p95_seconds}")
        short = parse_duration_seconds(self.short_window)
        long = parse_duration_seconds(self.long_window)
        if short >= long:
            raise ValueError(
                f"canary short window {self.short_window} must be shorter than {self.long_window}"
            )
        # Normalise spelling ("60m" -> "1h") so output bytes do not depend on it.
        object.__setattr__(self, "short_window", format_duration(short))
        object.__setattr__(self, "long_window", format_duration(long))
        if self.hold_for:
            hold = format_duration(parse_duration_seconds(self.hold_for))
            object.__setattr__(self, "hold_for", hold)


def _error_ratio(service: str, variant: str, window: str, *, zero_if_no_errors: bool) -> str:
    base = ((c.LABEL_SERVICE, "=", service), (c.LABEL_VARIANT, "=", variant))
    errors = label_matchers(*base, (c.LABEL_STATUS, "=~", c.ERROR_STATUS_REGEX))
    bad = f"sum(rate({c.HTTP_REQUESTS_TOTAL}{errors}[{window}]))"
    if zero_if_no_errors:
        # A baseline that never failed has no 5xx series; it still has a ratio: 0.
        bad = f"({bad} or vector(0))"
    total = f"sum(rate({c.HTTP_REQUESTS_TOTAL}{label_matchers(*base)}[{window}]))"
    return f"({bad} / ({total} > 0))"


def _p95(service: str, variant: str, window: str) -> str:
    selector = label_matchers((c.LABEL_SERVICE, "=", service), (c.LABEL_VARIANT, "=", variant))
    bucket = f"{c.HTTP_REQUEST_DURATION_SECONDS}_bucket{selector}"
    return f"histogram_quantile(0.95, sum by (le) (rate({bucket}[{window}])))"


def _guard_expr(canary_short: str, canary_long: str, baseline_long: str, threshold: str) -> str:
    return (
        f"{canary_short} > {threshold}\n"
        f"and\n{canary_long} > {threshold}\n"
        f"unless\n{baseline_long} >= {canary_long}"
    )


def _query_value(expr: str, fmt: str) -> str:
    # Go template raw strings (backquotes) keep the PromQL's double quotes intact.
    flat = " ".join(expr.split())
    return f"{{{{ with query `{flat}` }}}}{{{{ . | first | value | {fmt} }}}}{{{{ else }}}}no data{{{{ end }}}}"


def canary_rule_group(
    service: str, options: CanaryGuardOptions, links: AlertLinks = DEFAULT_LINKS
) -> RuleGroup:
    """The error-rate and p95 guard alerts comparing a service's canary with its baseline."""
    o = options
    board = {"service": service}
    labels = (
        (c.LABEL_ROLLBACK, c.ROLLBACK_LABEL_VALUE),
        (c.LABEL_SERVICE, service),
        (c.LABEL_SEVERITY, c.SEVERITY_PAGE),
        (c.LABEL_VARIANT, o.canary_variant),
    )
    windows = f"{o.short_window} and {o.long_window}"

    err = {
        w: _error_ratio(service, o.canary_variant, w, zero_if_no_errors=False)
        for w in (o.short_window, o.long_window)
    }
    err_baseline = _error_ratio(service, o.baseline_variant, o.long_window, zero_if_no_errors=True)
    max_ratio = format_number(o.max_error_ratio)
    error_alert = AlertingRule(
        c.CANARY_ERROR_RATE_ALERT,
        _guard_expr(err[o.short_window], err[o.long_window], err_baseline, max_ratio),
        labels,
        (
            (
                "description",
                f"Over {o.long_window}: canary {_query_value(err[o.long_window], 'humanizePercentage')}, "
                f"baseline {_query_value(err_baseline, 'humanizePercentage')}.",
            ),
            (
                "summary",
                f"Canary of {service} fails more than {format_number(o.max_error_ratio * 100)}% "
                f"of requests over {windows}, worse than the baseline.",
            ),
            *links.annotations(c.CANARY_ERROR_RATE_ALERT, "canary", board),
        ),
        hold_for=o.hold_for or None,
    )

    p95 = {w: _p95(service, o.canary_variant, w) for w in (o.short_window, o.long_window)}
    p95_baseline = _p95(service, o.baseline_variant, o.long_window)
    max_p95 = format_number(o.max_p95_seconds)
    latency_alert = AlertingRule(
        c.CANARY_LATENCY_P95_ALERT,
        _guard_expr(p95[o.short_window], p95[o.long_window], p95_baseline, max_p95),
        labels,
        (
            (
                "description",
                f"Over {o.long_window}: canary p95 {_query_value(p95[o.long_window], 'humanizeDuration')}, "
                f"baseline p95 {_query_value(p95_baseline, 'humanizeDuration')}.",
            ),
            (
                "summary",
                f"Canary of {service} has p95 latency above {max_p95}s over {windows}, "
                "worse than the baseline.",
            ),
            *links.annotations(c.CANARY_LATENCY_P95_ALERT, "canary", board),
        ),
        hold_for=o.hold_for or None,
    )
    return RuleGroup(f"sloengine-canary-{service}", (error_alert, latency_alert))
