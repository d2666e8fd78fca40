"""OpenSLO v1 indicators (the `SLI` spec): ratioMetric and thresholdMetric over Prometheus.

An indicator is read in two steps. `read_indicator` checks the SLI spec on its own (so an
unreferenced SLI document is still validated); `to_model_sli` combines it with an objective,
which a thresholdMetric needs (its `op` and `value`).

thresholdMetric is read as a Prometheus histogram: the query names the histogram (its base
name, or its `_bucket` series) and `value` is a bucket bound in the histogram's own unit
(seconds for `*_seconds`). Good events are observations `<= value`. Over this project's
`http_request_duration_seconds` with `=` matchers it becomes a NativeSLI, so the engine can
evaluate it from pushed series too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sloengine import conventions
from sloengine.model import SLI, EventsSLI, NativeSLI, RawSLI
from sloengine.specs import _fields as f
from sloengine.specs import _promql
from sloengine.specs._fields import At, Collector
from sloengine.specs._native import check_latency_bucket

SUPPORTED_SOURCE = "Prometheus"
_SLI_SPEC_FIELDS = ("description", "thresholdMetric", "ratioMetric")
_RATIO_FIELDS = ("counter", "good", "bad", "total", "rawType", "raw")
# promql_parser.MatchOp is not hashable: key by its member name.
_MATCH_OPS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}


@dataclass(frozen=True)
class RatioIndicator:
    """Queries as model templates; exactly one shape is set (good/total, bad/total or raw)."""

    total: str | None = None
    good: str | None = None
    bad: str | None = None
    raw_error_ratio: str | None = None


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str


@dataclass(frozen=True)
class ThresholdIndicator:
    """A histogram, by base metric name and label matchers."""

    histogram: str
    matchers: tuple[Matcher, ...]


Indicator = RatioIndicator | ThresholdIndicator


def read_indicator(spec: Any, at: At, collector: Collector) -> Indicator:
    """Read an SLI `spec` (inline `indicator.spec` or an SLI document's `spec`)."""
    doc = f.mapping(spec, at)
    f.check_known(doc, _SLI_SPEC_FIELDS, at, collector)
    f.optional_string(doc.get("description"), at.key("description"))
    kind = f.one_of(doc, ("ratioMetric", "thresholdMetric"), at)
    if kind == "ratioMetric":
        return _ratio(doc[kind], at.key(kind), collector)
    return _threshold(doc[kind], at.key(kind), collector)


def _ratio(value: Any, at: At, collector: Collector) -> RatioIndicator:
    doc = f.mapping(value, at)
    f.check_known(doc, _RATIO_FIELDS, at, collector)
    counter = f.boolean(doc.get("counter"), at.key("counter"))
    if doc.get("raw") is not None:
        for other in ("good", "bad", "total"):
            if doc.get(other) is not None:
                raise at.key(other).error("cannot be used together with raw")
        raw_type = doc.get("rawType")
        if raw_type not in ("success", "failure"):
            raise at.key("rawType").error("must be success or failure when raw is used")
        # A raw ratio is a precomputed gauge: averaged over the window, never rate()d.
        raw_at = at.key("raw")
        query = _promql.gauge_or_template(
            _metric_source(doc["raw"], raw_at, collector),
            raw_at.key("metricSource").key("spec").key("query"),
        )
        error_ratio = query if raw_type == "failure" else f"1 - ({query})"
        return RatioIndicator(raw_error_ratio=error_ratio)
    if doc.get("rawType") is not None:
        raise at.key("rawType").error("only used with raw")
    numerator = f.one_of(doc, ("good", "bad"), at)
    num = collector.attempt(
        lambda: _metric_query(
            doc[numerator], at.key(numerator), counter=counter, collector=collector
        )
    )
    total = collector.attempt(
        lambda: _metric_query(
            f.required(doc, "total", at), at.key("total"), counter=counter, collector=collector
        )
    )
    if num is None or total is None:
        raise f.AlreadyReported
    if numerator == "good":
        return RatioIndicator(total=total, good=num)
    return RatioIndicator(total=total, bad=num)


def _metric_source(value: Any, at: At, collector: Collector) -> Any:
    """The `spec` of a Prometheus metricSource (anything else is refused by name)."""
    doc = f.mapping(value, at)
    f.check_known(doc, ("metricSource",), at, collector)
    src_at = at.key("metricSource")
    src = f.mapping(f.required(doc, "metricSource", at), src_at)
    f.check_known(src, ("metricSourceRef", "type", "spec"), src_at, collector)
    if src.get("metricSourceRef") is not None:
        raise src_at.key("metricSourceRef").error(
            "DataSource references are not supported; give type: Prometheus and spec.query inline"
        )
    source_type = f.string(f.required(src, "type", src_at), src_at.key("type"))
    if source_type.lower() != SUPPORTED_SOURCE.lower():
        raise src_at.key("type").error(
            f"unsupported metric source {source_type!r} (supported: {SUPPORTED_SOURCE})"
        )
    spec_at = src_at.key("spec")
    spec = f.mapping(f.required(src, "spec", src_at), spec_at)
    f.check_known(spec, ("query",), spec_at, collector)
    return f.required(spec, "query", spec_at)


def _metric_query(value: Any, at: At, *, counter: bool, collector: Collector) -> str:
    query = _metric_source(value, at, collector)
    query_at = at.key("metricSource").key("spec").key("query")
    return _promql.counter_or_template(query, query_at, counter=counter)


def _threshold(value: Any, at: At, collector: Collector) -> ThresholdIndicator:
    query = _metric_source(value, at, collector)
    query_at = at.key("metricSource").key("spec").key("query")
    selector = _promql.selector(query, query_at)
    name = selector.name
    if not name:
        raise query_at.error("the histogram selector needs a metric name")
    histogram = name.removesuffix("_bucket")
    matchers = tuple(
        Matcher(m.name, _MATCH_OPS[str(m.op).rsplit(".", 1)[-1]], m.value)
        for m in selector.matchers.matchers
        if m.name != "__name__"
    )
    if any(m.name == "le" for m in matchers):
        raise query_at.error(
            "the histogram selector must not match on le; set the objective's value"
        )
    return ThresholdIndicator(histogram, matchers)


def to_model_sli(indicator: Indicator, objective: dict[str, Any], at: At, service: str) -> SLI:
    """The model SLI for one objective (`at` is the objective's path)."""
    if isinstance(indicator, RatioIndicator):
        for key in ("value",):
            if objective.get(key) is not None:
                raise at.key(key).error("only used with a thresholdMetric indicator")
        op = objective.get("op")
        if op is not None and op not in ("gt", "gte"):
            raise at.key("op").error(f"must be gt or gte for a ratioMetric, got {op!r}")
        if indicator.raw_error_ratio is not None:
            return RawSLI(indicator.raw_error_ratio)
        assert indicator.total is not None  # read_indicator sets total with good or bad
        return EventsSLI(indicator.total, error_query=indicator.bad, good_query=indicator.good)
    op = f.required(objective, "op", at)
    if op not in ("lt", "lte"):
        raise at.key("op").error(
            f"must be lt or lte for a thresholdMetric, got {op!r} "
            "(good events are observations at or below value)"
        )
    threshold = f.number(f.required(objective, "value", at), at.key("value"))
    if threshold <= 0:
        raise at.key("value").error(f"must be a positive bucket bound, got {threshold:g}")
    return _histogram_sli(indicator, threshold, at.key("value"), service)


def _histogram_sli(indicator: ThresholdIndicator, threshold: float, at: At, service: str) -> SLI:
    if indicator.histogram == conventions.HTTP_REQUEST_DURATION_SECONDS and all(
        m.op == "=" for m in indicator.matchers
    ):
        check_latency_bucket(threshold, at)
        labels = {m.name: m.value for m in indicator.matchers}
        if labels.setdefault(conventions.LABEL_SERVICE, service) != service:
            raise at.error(
                f"the selector's service {labels[conventions.LABEL_SERVICE]!r} "
                f"differs from spec.service {service!r}"
            )
        return NativeSLI("latency", tuple(sorted(labels.items())), threshold)
    base = ",".join(f"{m.name}{m.op}{json.dumps(m.value)}" for m in indicator.matchers)
    bucket = ",".join(p for p in (base, _le_matcher(threshold)) if p)
    window = _promql.WINDOW
    return EventsSLI(
        total_query=f"sum(rate({indicator.histogram}_count{{{base}}}[{window}]))",
        good_query=f"sum(rate({indicator.histogram}_bucket{{{bucket}}}[{window}]))",
    )


def _le_matcher(threshold: float) -> str:
    # Go clients expose le="1", Python clients le="1.0"; Prometheus 2.x keeps the text as is.
    if threshold == int(threshold):
        whole = int(threshold)
        return f'le=~"{whole}|{whole}\\\\.0"'
    return f'le="{threshold!r}"'
