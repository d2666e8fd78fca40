"""Sloth's `version: prometheus/v1` specs, imported so that Sloth users can migrate as they are.

Fields follow Sloth's `pkg/prometheus/api/v1` (version, service, labels, slos[].name,
objective, description, labels, sli.events / sli.raw, alerting.name / labels / annotations /
page_alert / ticket_alert with labels, annotations and disable). The objective is a
percentage; the period is Sloth's default, 30 days. SLI plugins are refused.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from sloengine import conventions
from sloengine.model import SLO, Alerting, EventsSLI, Labels, RawSLI, SeverityAlert, SourceRef
from sloengine.specs import _fields as f
from sloengine.specs import _promql
from sloengine.specs._fields import At, Collector
from sloengine.specs._loaded import LoadedSLO

VERSION = "prometheus/v1"
DEFAULT_PERIOD_SECONDS = 30 * 86400
_TOP_FIELDS = ("version", "service", "labels", "slos")
_SLO_FIELDS = ("name", "objective", "description", "labels", "sli", "alerting")
_SLI_FIELDS = ("events", "raw", "plugin")
_ALERTING_FIELDS = ("name", "labels", "annotations", "page_alert", "ticket_alert")
_ALERT_FIELDS = ("disable", "labels", "annotations")


def is_sloth_document(doc: dict[str, Any]) -> bool:
    return "version" in doc and "apiVersion" not in doc


def load_sloth(doc: dict[str, Any], at: At, collector: Collector) -> list[LoadedSLO]:
    """Expand one Sloth spec document into SLOs; errors go to `collector`."""
    f.check_known(doc, _TOP_FIELDS, at, collector)
    if doc.get("version") != VERSION:
        collector.add(
            at.key("version").error(
                f"unsupported Sloth version {doc.get('version')!r} (supported: {VERSION})"
            )
        )
        return []
    service = collector.attempt(lambda: f.name(f.required(doc, "service", at), at.key("service")))
    labels = collector.attempt(lambda: f.label_map(doc.get("labels"), at.key("labels")))
    raw_slos = collector.attempt(lambda: f.sequence(f.required(doc, "slos", at), at.key("slos")))
    if service is None or labels is None or raw_slos is None:
        return []
    if not raw_slos:
        collector.add(at.key("slos").error("must list at least one SLO"))
    loaded = []
    for i, raw in enumerate(raw_slos):
        slo_at = at.key("slos").index(i)
        slo = collector.attempt(partial(_slo, raw, slo_at, service, labels, collector))
        if slo is not None:
            loaded.append(LoadedSLO(slo))
    return loaded


def _slo(raw: Any, at: At, service: str, service_labels: Labels, collector: Collector) -> SLO:
    doc = f.mapping(raw, at)
    f.check_known(doc, _SLO_FIELDS, at, collector)
    # Read every independent part before failing, so one run reports all of their errors.
    name = collector.attempt(lambda: f.name(f.required(doc, "name", at), at.key("name")))
    objective = collector.attempt(
        lambda: f.objective_percent(f.required(doc, "objective", at), at.key("objective"))
    )
    description = collector.attempt(
        lambda: f.optional_string(doc.get("description"), at.key("description"))
    )
    labels = collector.attempt(lambda: f.label_map(doc.get("labels"), at.key("labels")))
    sli = collector.attempt(lambda: _sli(f.required(doc, "sli", at), at.key("sli"), collector))
    alerting = collector.attempt(
        lambda: _alerting(doc.get("alerting"), at.key("alerting"), collector)
    )
    if (
        name is None
        or objective is None
        or description is None
        or labels is None
        or sli is None
        or alerting is None
    ):
        raise f.AlreadyReported
    return SLO(
        service=service,
        name=name,
        objective_ratio=f.percent_to_ratio(objective),
        sli=sli,
        period_seconds=DEFAULT_PERIOD_SECONDS,
        description=description,
        labels=f.merge_labels(service_labels, labels),
        alerting=alerting,
        source=SourceRef(at.file, at.path),
    )


def _sli(value: Any, at: At, collector: Collector) -> EventsSLI | RawSLI:
    doc = f.mapping(value, at)
    f.check_known(doc, _SLI_FIELDS, at, collector)
    kind = f.one_of(doc, ("events", "raw", "plugin"), at)
    if kind == "plugin":
        raise at.key("plugin").error("Sloth SLI plugins are not supported; use events or raw")
    body = f.mapping(doc[kind], at.key(kind))
    if kind == "raw":
        f.check_known(body, ("error_ratio_query",), at.key("raw"), collector)
        query_at = at.key("raw").key("error_ratio_query")
        return RawSLI(
            _promql.template(f.required(body, "error_ratio_query", at.key("raw")), query_at)
        )
    events_at = at.key("events")
    f.check_known(body, ("error_query", "total_query"), events_at, collector)
    error = collector.attempt(
        lambda: _promql.template(
            f.required(body, "error_query", events_at), events_at.key("error_query")
        )
    )
    total = collector.attempt(
        lambda: _promql.template(
            f.required(body, "total_query", events_at), events_at.key("total_query")
        )
    )
    if error is None or total is None:
        raise f.AlreadyReported
    return EventsSLI(total_query=total, error_query=error)


def _alerting(value: Any, at: At, collector: Collector) -> Alerting:
    doc = f.mapping(value, at, optional=True)
    f.check_known(doc, _ALERTING_FIELDS, at, collector)
    name = conventions.SLO_BURN_ALERT
    if doc.get("name") is not None:
        name = f.alert_name(doc["name"], at.key("name"))
    return Alerting(
        name=name,
        labels=f.label_map(doc.get("labels"), at.key("labels")),
        annotations=f.label_map(doc.get("annotations"), at.key("annotations")),
        page=_alert(doc.get("page_alert"), at.key("page_alert"), collector),
        ticket=_alert(doc.get("ticket_alert"), at.key("ticket_alert"), collector),
    )


def _alert(value: Any, at: At, collector: Collector) -> SeverityAlert:
    doc = f.mapping(value, at, optional=True)
    f.check_known(doc, _ALERT_FIELDS, at, collector)
    return SeverityAlert(
        labels=f.label_map(doc.get("labels"), at.key("labels")),
        annotations=f.label_map(doc.get("annotations"), at.key("annotations")),
        disable=f.boolean(doc.get("disable"), at.key("disable")),
    )
