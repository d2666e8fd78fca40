"""OpenSLO v1 (`apiVersion: openslo/v1`): SLO, SLI and Service documents.

Documents are gathered first (`collect`) and turned into SLOs once every file is read
(`load_slos`), so an SLO's `indicatorRef` may name an SLI in any file of the run.

Supported: inline `indicator` or `indicatorRef`; ratioMetric and thresholdMetric over
`type: Prometheus` sources (see `_openslo_sli`); one rolling `timeWindow`; budgeting
Occurrences, Timeslices and RatioTimeslices (loaded into the model's timeslice fields);
`target` or `targetPercent`. An SLO with several objectives becomes one SLO per objective,
named `<metadata.name>-<index>` (Sloth's naming). Refused with a specific reason: calendar
windows, month/quarter/year durations, per-objective indicators, alert policies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sloengine.model import SLO, BudgetingMethod, Labels, SourceRef
from sloengine.specs import _fields as f
from sloengine.specs._fields import At, Collector
from sloengine.specs._loaded import LoadedSLO
from sloengine.specs._openslo_sli import Indicator, read_indicator, to_model_sli

API_VERSION = "openslo/v1"
KINDS = ("SLO", "SLI", "Service")
_DOC_FIELDS = ("apiVersion", "kind", "metadata", "spec")
_METADATA_FIELDS = ("name", "displayName", "labels", "annotations")
_SLO_SPEC_FIELDS = (
    "description",
    "service",
    "indicator",
    "indicatorRef",
    "timeWindow",
    "budgetingMethod",
    "objectives",
    "alertPolicies",
)
_OBJECTIVE_FIELDS = (
    "displayName",
    "op",
    "value",
    "target",
    "targetPercent",
    "timeSliceTarget",
    "timeSliceWindow",
    "indicator",
    "indicatorRef",
    "compositeWeight",
)
_BUDGETING_METHODS: tuple[BudgetingMethod, ...] = ("Occurrences", "Timeslices", "RatioTimeslices")
_CALENDAR_UNITS_RE = re.compile(r"^\d+[MQY]$")


@dataclass
class Documents:
    """OpenSLO v1 documents of one run: SLOs to expand, SLIs by name, Service names."""

    slos: list[tuple[dict[str, Any], At]] = field(default_factory=list)
    slis: dict[str, Indicator | None] = field(default_factory=dict)  # None: SLI had errors
    services: set[str] = field(default_factory=set)


def collect(doc: dict[str, Any], at: At, docs: Documents, collector: Collector) -> None:
    """Check one openslo/v1 document and remember it for `load_slos`."""
    f.check_known(doc, _DOC_FIELDS, at, collector)
    kind = doc.get("kind")
    if kind not in KINDS:
        collector.add(
            at.key("kind").error(
                f"unsupported kind {kind!r} for {API_VERSION} (supported: {', '.join(KINDS)}; "
                "alerts come from burn-rate policies)"
            )
        )
        return
    metadata = collector.attempt(lambda: _metadata(doc.get("metadata"), at, collector))
    if metadata is None:
        return
    name, _ = metadata
    if kind == "SLO":
        docs.slos.append((doc, at))
    elif kind == "SLI":
        if name in docs.slis:
            collector.add(at.key("metadata").key("name").error(f"duplicate SLI name {name!r}"))
            return
        spec_at = at.key("spec")
        docs.slis[name] = collector.attempt(
            lambda: read_indicator(f.required(doc, "spec", at), spec_at, collector)
        )
    else:
        spec = collector.attempt(lambda: f.mapping(doc.get("spec"), at.key("spec"), optional=True))
        if spec is not None:
            f.check_known(spec, ("description",), at.key("spec"), collector)
            if name in docs.services:
                collector.add(at.key("metadata").key("name").error(f"duplicate Service {name!r}"))
            docs.services.add(name)


def _metadata(value: Any, at: At, collector: Collector) -> tuple[str, Labels]:
    md_at = at.key("metadata")
    doc = f.mapping(value, md_at)
    f.check_known(doc, _METADATA_FIELDS, md_at, collector)
    name = f.name(f.required(doc, "name", md_at), md_at.key("name"))
    f.optional_string(doc.get("displayName"), md_at.key("displayName"))
    f.mapping(doc.get("annotations"), md_at.key("annotations"), optional=True)
    return name, _labels(doc.get("labels"), md_at.key("labels"))


def _labels(value: Any, at: At) -> Labels:
    # OpenSLO allows several values per label; a Prometheus label holds one, so join them.
    flat: dict[str, Any] = {}
    for key, raw in f.mapping(value, at, optional=True).items():
        if isinstance(raw, list):
            items = [f.label_map({key: item}, at)[0][1] for item in raw]
            flat[key] = ",".join(items)
        else:
            flat[key] = raw
    return f.label_map(flat, at)


def load_slos(docs: Documents, collector: Collector) -> list[LoadedSLO]:
    """Expand every gathered SLO document (call after all files are read)."""
    loaded: list[LoadedSLO] = []
    for doc, at in docs.slos:
        slos = collector.attempt(partial(_slo, doc, at, docs, collector))
        loaded.extend(LoadedSLO(slo) for slo in slos or ())
    return loaded


@dataclass(frozen=True)
class _Common:
    """The parts of an OpenSLO SLO that every one of its objectives shares."""

    name: str
    labels: Labels
    service: str
    description: str
    indicator: Indicator
    period_seconds: float
    method: BudgetingMethod


def _slo(doc: dict[str, Any], at: At, docs: Documents, collector: Collector) -> list[SLO]:
    name, labels = _metadata(doc.get("metadata"), at, Collector())  # errors: see collect()
    spec_at = at.key("spec")
    spec = f.mapping(f.required(doc, "spec", at), spec_at)
    f.check_known(spec, _SLO_SPEC_FIELDS, spec_at, collector)
    service = collector.attempt(
        lambda: f.name(f.required(spec, "service", spec_at), spec_at.key("service"))
    )
    description = collector.attempt(
        lambda: f.optional_string(spec.get("description"), spec_at.key("description"))
    )
    indicator = collector.attempt(lambda: _indicator(spec, spec_at, docs, collector))
    period = collector.attempt(
        lambda: _time_window(spec.get("timeWindow"), spec_at.key("timeWindow"), collector)
    )
    method = collector.attempt(
        lambda: _budgeting_method(spec.get("budgetingMethod"), spec_at.key("budgetingMethod"))
    )
    objectives = collector.attempt(
        lambda: _objective_list(spec.get("objectives"), spec_at.key("objectives"))
    )
    if spec.get("alertPolicies"):
        collector.add(
            spec_at.key("alertPolicies").error(
                "alert policies are not supported: alerts come from burn-rate policies"
            )
        )
    if (
        service is None
        or description is None
        or indicator is None
        or period is None
        or method is None
        or objectives is None
    ):
        raise f.AlreadyReported
    common = _Common(name, labels, service, description, indicator, period, method)
    slos = []
    for i, raw in enumerate(objectives):
        obj_at = spec_at.key("objectives").index(i)
        if len(objectives) == 1:
            slo_name, where = name, at.key("metadata").key("name")
        else:
            slo_name, where = f"{name}-{i}", obj_at
        slo = collector.attempt(
            partial(_objective_slo, raw, obj_at, common, slo_name, where, collector)
        )
        if slo is not None:
            slos.append(slo)
    return slos


def _indicator(spec: dict[str, Any], at: At, docs: Documents, collector: Collector) -> Indicator:
    which = f.one_of(spec, ("indicator", "indicatorRef"), at)
    if which == "indicatorRef":
        ref = f.string(spec["indicatorRef"], at.key("indicatorRef"))
        if ref not in docs.slis:
            raise at.key("indicatorRef").error(f"no SLI named {ref!r} in the loaded files")
        indicator = docs.slis[ref]
        if indicator is None:
            raise f.AlreadyReported  # the SLI document's own errors are reported
        return indicator
    ind_at = at.key("indicator")
    inline = f.mapping(spec["indicator"], ind_at)
    f.check_known(inline, ("metadata", "spec"), ind_at, collector)
    if inline.get("metadata") is not None:
        md_at = ind_at.key("metadata")
        md = f.mapping(inline["metadata"], md_at)
        f.check_known(md, _METADATA_FIELDS, md_at, collector)
    return read_indicator(f.required(inline, "spec", ind_at), ind_at.key("spec"), collector)


def _time_window(value: Any, at: At, collector: Collector) -> float:
    if value is None:
        raise at.error("missing required field")
    items = f.sequence(value, at)
    if len(items) != 1:
        raise at.error(f"must hold exactly one time window, got {len(items)}")
    item_at = at.index(0)
    window = f.mapping(items[0], item_at)
    f.check_known(window, ("duration", "isRolling", "calendar"), item_at, collector)
    rolling = f.boolean(
        window.get("isRolling"), item_at.key("isRolling"), default=window.get("calendar") is None
    )
    if not rolling or window.get("calendar") is not None:
        where = "calendar" if window.get("calendar") is not None else "isRolling"
        raise item_at.key(where).error(
            "calendar-aligned time windows are not supported; use a rolling window "
            "(isRolling: true, no calendar)"
        )
    duration = f.required(window, "duration", item_at)
    if isinstance(duration, str) and _CALENDAR_UNITS_RE.match(duration):
        raise item_at.key("duration").error(
            f"{duration!r}: months, quarters and years are calendar units; give days (e.g. 30d)"
        )
    return f.duration_seconds(duration, item_at.key("duration"))


def _budgeting_method(value: Any, at: At) -> BudgetingMethod:
    for method in _BUDGETING_METHODS:
        if value == method:
            return method
    if value is None:
        raise at.error("missing required field")
    raise at.error(f"must be one of {', '.join(_BUDGETING_METHODS)}, got {value!r}")


def _objective_list(value: Any, at: At) -> list[Any]:
    if value is None:
        raise at.error("missing required field")
    items = f.sequence(value, at)
    if not items:
        raise at.error("must list at least one objective")
    return items


def _objective_slo(
    raw: Any, at: At, common: _Common, name: str, where: At, collector: Collector
) -> SLO:
    doc = f.mapping(raw, at)
    f.check_known(doc, _OBJECTIVE_FIELDS, at, collector)
    for key in ("indicator", "indicatorRef"):
        if doc.get(key) is not None:
            raise at.key(key).error(
                "per-objective indicators (composite SLOs) are not supported; "
                "write one SLO per indicator"
            )
    f.optional_string(doc.get("displayName"), at.key("displayName"))
    target = _target(doc, at)
    sli = to_model_sli(common.indicator, doc, at, common.service)
    slice_target, slice_window = _timeslices(doc, at, common.method)
    return SLO(
        service=common.service,
        name=name,
        objective_ratio=target,
        sli=sli,
        period_seconds=common.period_seconds,
        description=common.description,
        labels=common.labels,
        budgeting_method=common.method,
        timeslice_target_ratio=slice_target,
        timeslice_window_seconds=slice_window,
        source=SourceRef(where.file, where.path),
    )


def _target(doc: dict[str, Any], at: At) -> float:
    which = f.one_of(doc, ("target", "targetPercent"), at)
    if which == "target":
        return f.objective_ratio(doc["target"], at.key("target"))
    return f.percent_to_ratio(f.objective_percent(doc["targetPercent"], at.key("targetPercent")))


def _timeslices(
    doc: dict[str, Any], at: At, method: BudgetingMethod
) -> tuple[float | None, float | None]:
    target = doc.get("timeSliceTarget")
    if method == "Occurrences":
        for key in ("timeSliceTarget", "timeSliceWindow"):
            if doc.get(key) is not None:
                raise at.key(key).error("only used with Timeslices or RatioTimeslices budgeting")
        return None, None
    window_s = f.duration_seconds(f.required(doc, "timeSliceWindow", at), at.key("timeSliceWindow"))
    if method == "RatioTimeslices":
        if target is not None:
            raise at.key("timeSliceTarget").error("only used with Timeslices budgeting")
        return None, window_s
    slice_target = f.number(f.required(doc, "timeSliceTarget", at), at.key("timeSliceTarget"))
    if not 0 < slice_target <= 1:
        raise at.key("timeSliceTarget").error(f"must be a ratio in (0, 1], got {target}")
    return slice_target, window_s
