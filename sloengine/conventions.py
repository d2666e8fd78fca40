"""Every metric, label, rule and alert name the project shares (DESIGN.md, Conventions).

The sidecar, the instrumentation package, the generators, the dashboards and the engine all
import these names from here, so that a rename happens in one place or nowhere.
"""

from __future__ import annotations

from typing import Final

# --- RED metrics (Prometheus names; OTel semantic conventions map onto them) -------------
HTTP_REQUESTS_TOTAL: Final = "http_requests_total"
HTTP_REQUEST_DURATION_SECONDS: Final = "http_request_duration_seconds"
HTTP_REQUESTS_IN_FLIGHT: Final = "http_requests_in_flight"

LABEL_SERVICE: Final = "service"
LABEL_VARIANT: Final = "variant"
LABEL_ROUTE: Final = "route"
LABEL_METHOD: Final = "method"
LABEL_STATUS: Final = "status"
# The deployed revision (e.g. the pod template hash): an extra series label, so that the
# analysis of revision N never counts revision N-1's requests.
LABEL_REVISION: Final = "revision"
# What a revision may look like (pod template hash, git sha, semver, image tag): it reaches
# rollback hooks as an argv element, so never a leading '-', no spaces, '/' or shell
# metacharacters, at most 128 characters.
REVISION_PATTERN: Final = r"[A-Za-z0-9_.][A-Za-z0-9_.:-]{0,127}"
RED_LABELS: Final = (LABEL_SERVICE, LABEL_VARIANT, LABEL_ROUTE, LABEL_METHOD, LABEL_STATUS)

# A latency SLI is "fraction of requests with le <= threshold", so every latency threshold
# used by an SLO or a guard must be one of these bucket bounds.
DEFAULT_LATENCY_BUCKETS_SECONDS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0, 10.0,
)

VARIANT_STABLE: Final = "stable"
VARIANT_BASELINE: Final = "baseline"
VARIANT_CANARY: Final = "canary"
VARIANT_PRIMARY: Final = "primary"  # Flagger's name for the stable side
VARIANTS: Final = (VARIANT_STABLE, VARIANT_BASELINE, VARIANT_CANARY, VARIANT_PRIMARY)

# Requests whose path matches no route template share this one `route` value, so that
# scanners and typos cannot explode the label's cardinality.
UNMATCHED_ROUTE: Final = "__unmatched__"

# Status codes counted as errors by availability SLIs and the canary error guard.
ERROR_STATUS_REGEX: Final = "5.."

# --- Recording rules ------------------------------------------------------------------------
SLI_ERROR_RATIO_RECORD_PREFIX: Final = "slo:sli_error:ratio_rate"  # + window, e.g. "5m"
OBJECTIVE_RATIO_RECORD: Final = "slo:objective:ratio"
ERROR_BUDGET_RATIO_RECORD: Final = "slo:error_budget:ratio"
CURRENT_BURN_RATE_RECORD: Final = "slo:current_burn_rate:ratio"
PERIOD_BURN_RATE_RECORD: Final = "slo:period_burn_rate:ratio"
PERIOD_ERROR_BUDGET_REMAINING_RECORD: Final = "slo:period_error_budget_remaining:ratio"

# The event rates every SLO records per short window, and the 5m increases the period
# group sums: the 30-day ratio is a ratio of these sums, never an average of ratios.
SLI_ERROR_EVENTS_RATE_RECORD_PREFIX: Final = "slo:sli_error_events:rate"  # + window
SLI_TOTAL_EVENTS_RATE_RECORD_PREFIX: Final = "slo:sli_total_events:rate"  # + window
SLI_ERROR_EVENTS_INCREASE_5M_RECORD: Final = "slo:sli_error_events:increase5m"
SLI_TOTAL_EVENTS_INCREASE_5M_RECORD: Final = "slo:sli_total_events:increase5m"

LABEL_SLO_SERVICE: Final = "slo_service"
LABEL_SLO_NAME: Final = "slo_name"
LABEL_SLO_WINDOW: Final = "slo_window"

# Timeslices / RatioTimeslices SLOs: each slice's error ratio, and (Timeslices) whether the
# slice was bad; every window's ratio is summed from them (generate/timeslice_rules.py).
TIMESLICE_ERROR_RATIO_RECORD: Final = "slo:timeslice_error:ratio"
TIMESLICE_BAD_RECORD: Final = "slo:timeslice_bad:bool"

# `generate --labels sloth`: Sloth's labels and records, added beside ours.
LABEL_SLOTH_ID: Final = "sloth_id"
LABEL_SLOTH_SERVICE: Final = "sloth_service"
LABEL_SLOTH_SLO: Final = "sloth_slo"
LABEL_SLOTH_WINDOW: Final = "sloth_window"
LABEL_SLOTH_SEVERITY: Final = "sloth_severity"
TIME_PERIOD_DAYS_RECORD: Final = "slo:time_period:days"
SLOTH_SLO_INFO_RECORD: Final = "sloth_slo_info"


def sli_error_ratio_record(window: str) -> str:
    """Name of the recording rule holding the SLI error ratio over `window` (e.g. "5m")."""
    return f"{SLI_ERROR_RATIO_RECORD_PREFIX}{window}"


# --- Alerts -----------------------------------------------------------------------------------
SLO_BURN_ALERT: Final = "SLOErrorBudgetBurn"
LABEL_SEVERITY: Final = "severity"
# page|ticket, kept even when an imported Sloth spec overrides `severity` with its own value.
LABEL_SLO_SEVERITY: Final = "slo_severity"
SEVERITY_PAGE: Final = "page"
SEVERITY_TICKET: Final = "ticket"
SEVERITIES: Final = (SEVERITY_PAGE, SEVERITY_TICKET)

CANARY_ERROR_RATE_ALERT: Final = "CanaryErrorRateHigh"
CANARY_LATENCY_P95_ALERT: Final = "CanaryLatencyP95High"
LABEL_ROLLBACK: Final = "rollback"
ROLLBACK_LABEL_VALUE: Final = "true"

DEFAULT_CANARY_MAX_ERROR_RATIO: Final = 0.02
DEFAULT_CANARY_MAX_P95_SECONDS: Final = 1.5
DEFAULT_CANARY_MAX_BURN_RATE: Final = 10.0

# --- Verdicts (contract) ----------------------------------------------------------------------
VERDICT_PASS: Final = "PASS"
VERDICT_FAIL: Final = "FAIL"
VERDICT_INCONCLUSIVE: Final = "INCONCLUSIVE"
VERDICTS: Final = (VERDICT_PASS, VERDICT_FAIL, VERDICT_INCONCLUSIVE)

# --- Engine HTTP side door paths (contract) ---------------------------------------------------
HTTP_VERDICT_PATH: Final = "/api/v1/verdict"
HTTP_FLAGGER_PATH: Final = "/api/v1/flagger/{gate}"
HTTP_ALERTMANAGER_PATH: Final = "/api/v1/alertmanager"
HTTP_METRICS_PATH: Final = "/metrics"
HTTP_HEALTHZ_PATH: Final = "/healthz"
HTTP_READYZ_PATH: Final = "/readyz"

# --- gRPC service names (contract) -------------------------------------------------------------
GRPC_INGEST_SERVICE: Final = "sloengine.v1.IngestService"
GRPC_SLO_SERVICE: Final = "sloengine.v1.SLOService"
GRPC_CANARY_SERVICE: Final = "sloengine.v1.CanaryService"

# --- producer ids ------------------------------------------------------------------------------
# The engine's remote_write/OTLP receivers write to the store under this producer id with
# their own sequence numbers; a native Push under it is refused, or it could claim those
# sequences and make the receivers' later batches DUPLICATE (acked, yet never counted).
PIPELINES_PRODUCER_ID: Final = "sloengine-pipelines"
