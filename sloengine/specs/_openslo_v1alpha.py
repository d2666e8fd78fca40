"""OpenSLO v1alpha SLOs, read the way Sloth reads them (its `openslo-*.yml` examples).

Each objective's `ratioMetrics` gives good and total Prometheus queries (templates with
`{{.window}}`); each objective becomes one SLO named `<metadata.name>-<index>`, as Sloth
names them, so alerts keep the ids Sloth users know. `timeWindows` takes one rolling
`count`/`unit`; budgeting is Occurrences only (as in Sloth).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from sloengine.model import SLO, EventsSLI, SourceRef
from sloengine.specs import _fields as f
from sloengine.specs import _promql
from sloengine.specs._fields import At, Collector
from sloengine.specs._loaded import LoadedSLO

API_VERSION = "openslo/v1alpha"
_DOC_FIELDS = ("apiVersion", "kind", "metadata", "spec")
_SPEC_FIELDS = ("service", "description", "budgetingMethod", "objectives", "timeWindows")
_OBJECTIVE_FIELDS = ("displayName", "target", "ratioMetrics", "op", "value")
_UNIT_SECONDS = {"Second": 1, "Minute": 60, "Hour": 3600, "Day": 86400, "Week": 7 * 86400}


def load_slo(doc: dict[str, Any], at: At, collector: Collector) -> list[LoadedSLO]:
    """Expand one v1alpha SLO document into SLOs; errors go to `collector`."""
    f.check_known(doc, _DOC_FIELDS, at, collector)
    if doc.get("kind") != "SLO":
        collector.add(
            at.key("kind").error(
                f"unsupported kind {doc.get('kind')!r} for {API_VERSION} (supported: SLO)"
            )
        )
        return []
    slos = collector.attempt(partial(_slos, doc, at, collector))
    return [LoadedSLO(slo) for slo in slos or ()]


def _slos(doc: dict[str, Any], at: At, collector: Collector) -> list[SLO]:
    md_at = at.key("metadata")
    metadata = f.mapping(f.required(doc, "metadata", at), md_at)
    f.check_known(metadata, ("name", "displayName"), md_at, collector)
    name = f.name(f.required(metadata, "name", md_at), md_at.key("name"))
    spec_at = at.key("spec")
    spec = f.mapping(f.required(doc, "spec", at), spec_at)
    f.check_known(spec, _SPEC_FIELDS, spec_at, collector)
    service = f.name(f.required(spec, "service", spec_at), spec_at.key("service"))
    description = f.optional_string(spec.get("description"), spec_at.key("description"))
    method = spec.get("budgetingMethod")
    if method != "Occurrences":
        raise spec_at.key("budgetingMethod").error(
            f"must be Occurrences for {API_VERSION}, got {method!r}"
        )
    period = _time_windows(f.required(spec, "timeWindows", spec_at), spec_at.key("timeWindows"))
    objectives = f.sequence(f.required(spec, "objectives", spec_at), spec_at.key("objectives"))
    if not objectives:
        raise spec_at.key("objectives").error("must list at least one objective")
    slos = []
    for i, raw in enumerate(objectives):
        obj_at = spec_at.key("objectives").index(i)
        sli_target = collector.attempt(partial(_objective, raw, obj_at, collector))
        if sli_target is None:
            continue
        sli, target = sli_target
        slos.append(
            SLO(
                service=service,
                name=f"{name}-{i}",
                objective_ratio=target,
                sli=sli,
                period_seconds=period,
                description=description,
                source=SourceRef(obj_at.file, obj_at.path),
            )
        )
    return slos


def _time_windows(value: Any, at: At) -> float:
    items = f.sequence(value, at)
    if len(items) != 1:
        raise at.error(f"must hold exactly one time window, got {len(items)}")
    item_at = at.index(0)
    window = f.mapping(items[0], item_at)
    if window.get("calendar") is not None or window.get("isRolling") is False:
        raise item_at.error("calendar-aligned time windows are not supported; use a rolling window")
    unit = window.get("unit")
    if unit not in _UNIT_SECONDS:
        raise item_at.key("unit").error(f"must be one of {', '.join(_UNIT_SECONDS)}, got {unit!r}")
    count = f.number(f.required(window, "count", item_at), item_at.key("count"))
    if count <= 0 or count != int(count):
        raise item_at.key("count").error(f"must be a positive whole number, got {count:g}")
    return count * _UNIT_SECONDS[unit]


def _objective(raw: Any, at: At, collector: Collector) -> tuple[EventsSLI, float]:
    doc = f.mapping(raw, at)
    f.check_known(doc, _OBJECTIVE_FIELDS, at, collector)
    target = f.objective_ratio(f.required(doc, "target", at), at.key("target"))
    ratio_at = at.key("ratioMetrics")
    ratio = f.mapping(f.required(doc, "ratioMetrics", at), ratio_at)
    f.check_known(ratio, ("good", "total", "counter"), ratio_at, collector)
    good = _query(f.required(ratio, "good", ratio_at), ratio_at.key("good"), collector)
    total = _query(f.required(ratio, "total", ratio_at), ratio_at.key("total"), collector)
    return EventsSLI(total_query=total, good_query=good), target


def _query(value: Any, at: At, collector: Collector) -> str:
    doc = f.mapping(value, at)
    f.check_known(doc, ("source", "queryType", "query", "metadata"), at, collector)
    source = doc.get("source")
    if not isinstance(source, str) or source.lower() != "prometheus":
        raise at.key("source").error(f"unsupported source {source!r} (supported: prometheus)")
    if doc.get("queryType") not in (None, "promql"):
        raise at.key("queryType").error(
            f"unsupported queryType {doc['queryType']!r} (supported: promql)"
        )
    return _promql.template(f.required(doc, "query", at), at.key("query"))
