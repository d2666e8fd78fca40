"""The native short form, `apiVersion: sloengine/v1`, `kind: ServiceSLOs`.

Services that use this project's RED metric conventions need only an objective and an
availability or latency SLI; the metrics and the `service` label are implied:

    apiVersion: sloengine/v1
    kind: ServiceSLOs
    service: gateway
    policy: sre-workbook-30d     # optional
    period: 30d                  # optional; default: the policy's period
    labels: {team: search}
    slos:
      - name: search-latency
        objective: 99            # percent
        latency: {threshold: 0.5}
        selector: {route: /search}
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import partial
from typing import Any

from sloengine import conventions
from sloengine.model import SLO, Labels, NativeSLI, SourceRef
from sloengine.specs import _fields as f
from sloengine.specs._fields import At, Collector, merge_labels
from sloengine.specs._loaded import LoadedSLO, PolicyRef

API_VERSION = "sloengine/v1"
KIND = "ServiceSLOs"
_TOP_FIELDS = ("apiVersion", "kind", "service", "policy", "period", "labels", "slos")
_SLO_FIELDS = ("name", "description", "objective", "availability", "latency", "selector", "labels")
# Labels an SLO selector may not set: `service` comes from the document, `le` from the SLI.
_RESERVED_SELECTOR_LABELS = (conventions.LABEL_SERVICE, "le")


def load_service_slos(
    doc: dict[str, Any], at: At, collector: Collector
) -> tuple[list[LoadedSLO], PolicyRef | None]:
    """Expand one ServiceSLOs document into SLOs and its policy reference, if any."""
    f.check_known(doc, _TOP_FIELDS, at, collector)
    service = collector.attempt(lambda: f.name(f.required(doc, "service", at), at.key("service")))
    labels = collector.attempt(lambda: f.label_map(doc.get("labels"), at.key("labels")))
    policy = collector.attempt(lambda: _policy_name(doc.get("policy"), at.key("policy")))
    period = collector.attempt(lambda: _period(doc.get("period"), at.key("period")))
    raw_slos = collector.attempt(lambda: _slo_list(f.required(doc, "slos", at), at.key("slos")))
    ref = None
    if policy:
        ref = PolicyRef(policy, at.key("policy"), period or None, at.key("period"))
    if service is None or labels is None or policy is None or period is None or raw_slos is None:
        return [], ref
    loaded = []
    for i, raw in enumerate(raw_slos):
        slo_at = at.key("slos").index(i)
        slo = collector.attempt(partial(_slo, raw, slo_at, service, collector))
        if slo is None:
            continue
        slo = replace(
            slo,
            period_seconds=period or slo.period_seconds,
            labels=merge_labels(labels, slo.labels),
            policy=policy or None,
        )
        loaded.append(LoadedSLO(slo, ref))
    return loaded, ref


def _policy_name(value: Any, at: At) -> str:
    return "" if value is None else f.string(value, at)


def _period(value: Any, at: At) -> float:
    return 0.0 if value is None else f.duration_seconds(value, at)


def _slo_list(value: Any, at: At) -> list[Any]:
    items = f.sequence(value, at)
    if not items:
        raise at.error("must list at least one SLO")
    return items


def _slo(raw: Any, at: At, service: str, collector: Collector) -> SLO:
    doc = f.mapping(raw, at)
    f.check_known(doc, _SLO_FIELDS, at, collector)
    name = f.name(f.required(doc, "name", at), at.key("name"))
    objective = f.objective_percent(f.required(doc, "objective", at), at.key("objective"))
    kind = f.one_of(doc, ("availability", "latency"), at)
    selector = _selector(doc.get("selector"), at.key("selector"), service)
    sli = (
        _availability(doc["availability"], at.key("availability"), selector, collector)
        if kind == "availability"
        else _latency(doc["latency"], at.key("latency"), selector, collector)
    )
    return SLO(
        service=service,
        name=name,
        objective_ratio=f.percent_to_ratio(objective),
        sli=sli,
        description=f.optional_string(doc.get("description"), at.key("description")),
        labels=f.label_map(doc.get("labels"), at.key("labels")),
        source=SourceRef(at.file, at.path),
    )


def _selector(value: Any, at: At, service: str) -> tuple[tuple[str, str], ...]:
    pairs = f.label_map(value, at)
    for key, _ in pairs:
        if key in _RESERVED_SELECTOR_LABELS:
            raise at.key(key).error(f"label {key!r} is set by the spec, not the selector")
    return tuple(sorted((*pairs, (conventions.LABEL_SERVICE, service))))


def _availability(value: Any, at: At, selector: Labels, collector: Collector) -> NativeSLI:
    doc = f.mapping(value, at, optional=True)
    f.check_known(doc, ("errorStatus",), at, collector)
    regex = conventions.ERROR_STATUS_REGEX
    if doc.get("errorStatus") is not None:
        regex = f.string(doc["errorStatus"], at.key("errorStatus"))
        try:
            re.compile(regex)
        except re.error as exc:
            raise at.key("errorStatus").error(f"invalid regular expression: {exc}") from None
        if not regex or '"' in regex or "\\" in regex:
            raise at.key("errorStatus").error("must be a non-empty regex without quotes or '\\'")
    return NativeSLI("availability", selector, error_status_regex=regex)


def _latency(value: Any, at: At, selector: Labels, collector: Collector) -> NativeSLI:
    doc = f.mapping(value, at)
    f.check_known(doc, ("threshold",), at, collector)
    threshold = f.number(f.required(doc, "threshold", at), at.key("threshold"))
    check_latency_bucket(threshold, at.key("threshold"))
    return NativeSLI("latency", selector, latency_threshold_seconds=threshold)


def check_latency_bucket(threshold_seconds: float, at: At) -> None:
    """A latency SLI counts `le <= threshold`, so the threshold must be a bucket bound."""
    if threshold_seconds not in conventions.DEFAULT_LATENCY_BUCKETS_SECONDS:
        bounds = ", ".join(f"{b:g}" for b in conventions.DEFAULT_LATENCY_BUCKETS_SECONDS)
        raise at.error(
            f"{threshold_seconds:g}s is not a bucket bound of "
            f"{conventions.HTTP_REQUEST_DURATION_SECONDS} (seconds: {bounds})"
        )
