"""PromQL for the generated dashboards: pure functions from names to query strings.

Every metric, label and rule name comes from `sloengine.conventions`. Queries that Grafana
templates use `$service` and `$__rate_interval`; the SLO queries read the recording rules
(`slo:*`) selected by `slo_service` / `slo_name` only, so extra labels the rules carry (the
SLO's own labels, `slo_window`) never break the match.
"""

from __future__ import annotations

import json

from sloengine import conventions as c

SERVICE_VAR = "$service"
RATE_INTERVAL = "$__rate_interval"


def quote(value: str) -> str:
    """A PromQL string literal: JSON's double-quoted escapes are valid PromQL escapes."""
    return json.dumps(value)


def matchers(*pairs: tuple[str, str, str]) -> str:
    """`{a="x", b=~"y"}` from (label, operator, value) triples, in the given order."""
    return "{" + ", ".join(f"{label}{op}{quote(value)}" for label, op, value in pairs) + "}"


def _service(extra: tuple[tuple[str, str, str], ...] = ()) -> str:
    return matchers((c.LABEL_SERVICE, "=~", SERVICE_VAR), *extra)


def _errors() -> tuple[str, str, str]:
    return (c.LABEL_STATUS, "=~", c.ERROR_STATUS_REGEX)


def _by(labels: tuple[str, ...]) -> str:
    return f"sum by ({', '.join(labels)}) " if labels else "sum "


def request_rate(by: tuple[str, ...], extra: tuple[tuple[str, str, str], ...] = ()) -> str:
    """Requests per second of the selected service, summed by `by`."""
    return f"{_by(by)}(rate({c.HTTP_REQUESTS_TOTAL}{_service(extra)}[{RATE_INTERVAL}]))"


def error_ratio(by: tuple[str, ...], extra: tuple[tuple[str, str, str], ...] = ()) -> str:
    """Share of requests answered with a server error, summed by `by`.

    A group that has traffic but no error series yet reads 0 rather than "no data"
    (`or ... * 0`); a group without traffic stays absent instead of dividing 0 by 0.
    """
    errors = (
        f"{_by(by)}(rate({c.HTTP_REQUESTS_TOTAL}{_service((*extra, _errors()))}[{RATE_INTERVAL}]))"
    )
    total = request_rate(by, extra)
    return f"({errors} or {total} * 0) / {total}"


def latency_quantile(
    quantile: float, by: tuple[str, ...], extra: tuple[tuple[str, str, str], ...] = ()
) -> str:
    """The `quantile` of request duration (seconds) from the histogram, per `by` group."""
    buckets = f"{c.HTTP_REQUEST_DURATION_SECONDS}_bucket{_service(extra)}"
    return f"histogram_quantile({quantile:g}, {_by((*by, 'le'))}(rate({buckets}[{RATE_INTERVAL}])))"


def in_flight(by: tuple[str, ...]) -> str:
    """Requests being served right now."""
    return f"{_by(by)}({c.HTTP_REQUESTS_IN_FLIGHT}{_service()})"


def variant(name: str) -> tuple[tuple[str, str, str], ...]:
    """The extra matcher that selects one deployment variant (`canary`, `baseline`)."""
    return ((c.LABEL_VARIANT, "=", name),)


def canary_guard_alerts() -> str:
    """The canary guard alerts of the selected service, while pending or firing."""
    names = "|".join((c.CANARY_ERROR_RATE_ALERT, c.CANARY_LATENCY_P95_ALERT))
    return "ALERTS" + matchers(("alertname", "=~", names), (c.LABEL_SERVICE, "=~", SERVICE_VAR))


# --- SLO recording rules -----------------------------------------------------------------------


def _slo(slo_name: str) -> str:
    return matchers((c.LABEL_SLO_SERVICE, "=", SERVICE_VAR), (c.LABEL_SLO_NAME, "=", slo_name))


def sli_ratio(slo_name: str, window: str) -> str:
    """The SLI (share of good events) over `window`, from the recorded error ratio."""
    return f"1 - {c.sli_error_ratio_record(window)}{_slo(slo_name)}"


def burn_rate(slo_name: str, window: str, error_budget_ratio: float) -> str:
    """Burn rate over `window`: the recorded error ratio over the SLO's error budget.

    The budget is a constant of the SLO, so it is written in rather than joined from
    `slo:error_budget:ratio`: the same number the alert rules compare with, at no join cost.
    """
    budget = round(error_budget_ratio, 12)  # 1 - 0.999 is 0.0010000000000000009 in binary
    return f"{c.sli_error_ratio_record(window)}{_slo(slo_name)} / {budget!r}"


def record(name: str, slo_name: str) -> str:
    """One per-SLO recording rule (`slo:current_burn_rate:ratio`, ...) for one SLO."""
    return f"{name}{_slo(slo_name)}"


def firing_slo_alerts() -> str:
    """Every firing SLO alert of the service (any alert name: Sloth imports keep theirs)."""
    return "ALERTS" + matchers(
        (c.LABEL_SLO_SERVICE, "=", SERVICE_VAR), ("alertstate", "=", "firing")
    )


def firing_rollback_alerts() -> str:
    """Every firing alert of the service that triggers a rollback (`rollback="true"`)."""
    return "ALERTS" + matchers(
        (c.LABEL_ROLLBACK, "=", c.ROLLBACK_LABEL_VALUE),
        (c.LABEL_SERVICE, "=~", SERVICE_VAR),
        ("alertstate", "=", "firing"),
    )
