"""The SLO model every stage shares: specs load into it, generators and the engine read it.

Frozen dataclasses only; no YAML, PromQL parsing or I/O here. Label sets are tuples of
(name, value) pairs, sorted, so that models are hashable and compare by value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from sloengine import conventions

Labels = tuple[tuple[str, str], ...]
BudgetingMethod = Literal["Occurrences", "Timeslices", "RatioTimeslices"]
NativeSLIKind = Literal["availability", "latency"]


@dataclass(frozen=True)
class SourceRef:
    """Where a model object came from, so errors can name the file and field path."""

    file: str
    path: str = ""


# --- SLIs -------------------------------------------------------------------------------------

# The window placeholder of every PromQL template in the model, spelled exactly so (the spec
# loaders normalise Go template spacing such as `{{ .window }}`): renderers substitute one
# literal string.
WINDOW_TEMPLATE: Final = "{{.window}}"


def render_window(template: str, window: str) -> str:
    """Substitute a window (e.g. "5m") into a model query template."""
    return template.replace(WINDOW_TEMPLATE, window)



@dataclass(frozen=True)
class EventsSLI:
    """Bad (or good) events over total events, as PromQL templates containing `{{.window}}`.

    Exactly one of `error_query` and `good_query` is set. Queries are full expressions
    (e.g. `sum(rate(x{code=~"5.."}[{{.window}}]))`); loaders wrap bare counter selectors.
    """

    total_query: str
    error_query: str | None = None
    good_query: str | None = None


@dataclass(frozen=True)
class RawSLI:
    """A PromQL template that yields the error ratio directly (Sloth's `raw` SLI)."""

    error_ratio_query: str


@dataclass(frozen=True)
class NativeSLI:
    """An SLI over this project's own RED metrics (conventions.py).

    The engine computes it from pushed series selected by `selector`; the generators render
    it as PromQL over `http_requests_total` / `http_request_duration_seconds`.
    - availability: errors are requests whose status matches `error_status_regex`.
    - latency: errors are requests slower than `latency_threshold_seconds`, which must be a
      bucket bound of conventions.DEFAULT_LATENCY_BUCKETS_SECONDS.
    """

    kind: NativeSLIKind
    selector: Labels  # e.g. (("service", "gateway"), ("route", "/search"))
    latency_threshold_seconds: float | None = None
    error_status_regex: str = conventions.ERROR_STATUS_REGEX


SLI = EventsSLI | RawSLI | NativeSLI


# --- Alerting -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeverityAlert:
    """Per-severity alert settings (Sloth's page_alert / ticket_alert)."""

    labels: Labels = ()
    annotations: Labels = ()
    disable: bool = False


@dataclass(frozen=True)
class Alerting:
    """How an SLO's MWMBR alerts are named and labelled; Sloth imports keep theirs."""

    name: str = conventions.SLO_BURN_ALERT
    labels: Labels = ()
    annotations: Labels = ()
    page: SeverityAlert = SeverityAlert()
    ticket: SeverityAlert = SeverityAlert()
    disable: bool = False


# --- SLO ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SLO:
    """One service level objective, whatever spec format it came from."""

    service: str
    name: str
    objective_ratio: float  # e.g. 0.999; the fraction of good events (or good slices)
    sli: SLI
    period_seconds: float = 30 * 86400  # rolling window
    description: str = ""
    labels: Labels = ()
    alerting: Alerting = Alerting()
    budgeting_method: BudgetingMethod = "Occurrences"
    # Timeslices / RatioTimeslices only: a slice is good when its ratio >= this target.
    timeslice_target_ratio: float | None = None
    timeslice_window_seconds: float | None = None
    policy: str | None = None  # burn-rate policy name; None = the catalog default
    source: SourceRef = field(default=SourceRef(""), compare=False)
    # The policy `policy` names, resolved once by the spec loader (None: an SLO built in code;
    # `resolved_policy` below looks its name up). Derived from `policy`, so not compared.
    burn_policy: BurnRatePolicy | None = field(default=None, compare=False, repr=False)

    @property
    def error_budget_ratio(self) -> float:
        """The fraction of events allowed to be bad over the period: 1 - objective."""
        return 1.0 - self.objective_ratio

    @property
    def id(self) -> str:
        """Stable identifier `service-name`, unique within a catalog (Sloth's sloth_id)."""
        return f"{self.service}-{self.name}"


# --- Burn-rate policies ------------------------------------------------------------------------


@dataclass(frozen=True)
class BurnWindow:
    """One multi-window alert: fire when both windows burn faster than `factor`."""

    severity: str  # conventions.SEVERITY_PAGE | SEVERITY_TICKET
    short_window_seconds: float
    long_window_seconds: float
    factor: float  # burn-rate threshold, e.g. 14.4


@dataclass(frozen=True)
class BurnRatePolicy:
    """A table of burn windows for one SLO period (SRE Workbook, Sloth AlertWindows)."""

    name: str
    period_seconds: float
    windows: tuple[BurnWindow, ...]
    # Severities whose burn alerts carry rollback="true" (to the engine's rollback receiver).
    rollback_severities: tuple[str, ...] = ()

    def window_seconds(self) -> tuple[float, ...]:
        """Every distinct window the policy needs, ascending."""
        return tuple(
            sorted({w for b in self.windows for w in (b.short_window_seconds, b.long_window_seconds)})
        )


def resolved_policy(
    slo: SLO, policies: Mapping[str, BurnRatePolicy], default_policy: str
) -> BurnRatePolicy | None:
    """The SLO's burn-rate policy: the one the spec loader carried, else (an SLO built in
    code, or renamed since with `replace(slo, policy=...)`) the one its name, or else
    `default_policy`, maps to in `policies`; None when that name is unknown (callers word
    the error). The one place a policy name is looked up after loading."""
    carried = slo.burn_policy
    if carried is not None and carried.name == slo.policy:
        return carried
    return policies.get(slo.policy or default_policy)


def factor_from_budget(budget_fraction: float, period_seconds: float, long_window_seconds: float) -> float:
    """Burn-rate factor that spends `budget_fraction` of the budget in one long window.

    factor = budget_fraction * period / long_window (SRE Workbook, chapter 5): e.g. 2% of a
    30-day budget in 1 hour is 0.02 * 720 = 14.4.
    """
    return budget_fraction * period_seconds / long_window_seconds


@dataclass(frozen=True)
class Catalog:
    """Everything loaded from a set of spec files."""

    slos: tuple[SLO, ...]
    policies: tuple[BurnRatePolicy, ...] = ()

    def find(self, service: str, name: str) -> SLO | None:
        for slo in self.slos:
            if slo.service == service and slo.name == name:
                return slo
        return None
