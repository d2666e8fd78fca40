"""OTLP metrics in: ExportMetricsServiceRequest -> the converter's source points.

Read (OTel semantic conventions, DESIGN.md):
- `http.server.request.duration` histograms (unit `s`, or `ms` scaled to seconds) with
  `http.route`, `http.request.method`, `http.response.status_code` on the data point and
  `service.name` on the resource, plus configurable resource attributes for the variant
  and the revision; cumulative or delta temporality. A data point carries all its buckets,
  so its bounds are the histogram's (no learning, no waiting);
- monotonic sums named like the mapping's counter (`http_requests_total`, or without the
  `_total` suffix the Prometheus-to-OTel translation drops), labelled the Prometheus way
  (`status`, `route`, `method`) or with the semantic-convention names.

A cumulative series restarts when its start time changes, so the start time is part of the
series identity: a restarted process is a new series whose first value counts in full.
Points flagged "no recorded value" (the OTel staleness marker) change nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2 as m

from sloengine import conventions
from sloengine.pipelines._convert import SourcePoint, series_id
from sloengine.pipelines._mapping import RedMapping
from sloengine.pipelines._receiver import PayloadError
from sloengine.settings import fields as f
from sloengine.settings.fields import At

__all__ = ["DURATION_METRIC", "OtlpMapping", "decode_export", "otlp_decoder"]

DURATION_METRIC = "http.server.request.duration"
_NO_RECORDED_VALUE = m.DataPointFlags.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
_CUMULATIVE = m.AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
_DELTA = m.AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
# OTel attribute -> the engine's Prometheus-style label.
_SEMCONV = {
    "http.route": conventions.LABEL_ROUTE,
    "http.request.method": conventions.LABEL_METHOD,
    "http.response.status_code": conventions.LABEL_STATUS,
}
_UNIT_SCALE = {"s": 1.0, "ms": 0.001}


@dataclass(frozen=True)
class OtlpMapping:
    """Resource attributes naming the variant and the revision (YAML `pipelines.otlp`)."""

    variant_attribute: str = "sloengine.variant"
    revision_attribute: str = "service.version"

    @classmethod
    def from_config(cls, doc: Any, file: str = "") -> OtlpMapping:
        """From YAML `pipelines.otlp`; SpecError naming the field."""
        at = At(file, "pipelines.otlp")
        doc = f.mapping(doc, at)
        f.check_known(doc, ("variant_attribute", "revision_attribute"), at)
        for key, value in doc.items():
            if not isinstance(value, str) or not value:
                raise at.key(key).error("must be an attribute name")
        return cls(**doc)


def _value(v: common_pb2.AnyValue) -> str:
    kind = v.WhichOneof("value")
    if kind == "string_value":
        return v.string_value
    if kind == "int_value":
        return str(v.int_value)
    if kind == "bool_value":
        return "true" if v.bool_value else "false"
    if kind == "double_value":
        return repr(v.double_value)
    return ""  # arrays, maps and bytes name no RED label


def _attributes(attrs: Any) -> dict[str, str]:
    return {kv.key: _value(kv.value) for kv in attrs}


def otlp_decoder(mapping: RedMapping, otlp: OtlpMapping) -> Any:
    """The receiver's decoder for serialized ExportMetricsServiceRequests."""

    def decode(body: bytes) -> tuple[list[SourcePoint], int]:
        return decode_export(body, mapping, otlp)

    return decode


def decode_export(
    body: bytes, mapping: RedMapping, otlp: OtlpMapping
) -> tuple[list[SourcePoint], int]:
    """Source points of the RED metrics in `body`, and how many data points were invalid."""
    try:
        request = ms.ExportMetricsServiceRequest.FromString(body)
    except DecodeError:
        raise PayloadError("body: not an OTLP ExportMetricsServiceRequest protobuf") from None
    points: list[SourcePoint] = []
    bad = 0
    counter_names = {mapping.counter_metric, mapping.counter_metric.removesuffix("_total")}
    label = dict(mapping.labels)
    for rm in request.resource_metrics:
        resource = _attributes(rm.resource.attributes)
        base = {f"resource.{k}": v for k, v in resource.items()}
        base[label["service"]] = resource.get("service.name", "")
        base[label["variant"]] = resource.get(otlp.variant_attribute, "")
        base[label["revision"]] = resource.get(otlp.revision_attribute, "")
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if metric.name == DURATION_METRIC and kind == "histogram":
                    bad += _histogram(metric, base, mapping, label, points)
                elif metric.name in counter_names and kind == "sum" and metric.sum.is_monotonic:
                    bad += _counter(metric, base, mapping, label, points)
    return points, bad


def _point_labels(
    base: dict[str, str], attrs: dict[str, str], label: dict[str, str]
) -> dict[str, str]:
    labels = {**base}
    for key, value in attrs.items():
        labels[label.get(_SEMCONV.get(key, key), _SEMCONV.get(key, key))] = value
    if not labels.get(label["route"]):
        labels[label["route"]] = conventions.UNMATCHED_ROUTE
    return labels


def _histogram(
    metric: m.Metric,
    base: dict[str, str],
    mapping: RedMapping,
    label: dict[str, str],
    out: list[SourcePoint],
) -> int:
    histogram = metric.histogram
    scale = _UNIT_SCALE.get(metric.unit or "s")
    temporality = histogram.aggregation_temporality
    if scale is None or temporality not in (_CUMULATIVE, _DELTA):
        return len(histogram.data_points)  # no unit we can read, or no temporality
    cumulative = temporality == _CUMULATIVE
    name = mapping.histogram_metric + "_bucket"
    bad = 0
    for dp in histogram.data_points:
        if dp.flags & _NO_RECORDED_VALUE:
            continue
        bounds = [b * scale for b in dp.explicit_bounds]
        counts = list(dp.bucket_counts)
        if len(counts) != len(bounds) + 1 or any(
            not (math.isfinite(b) and b >= 0) or (j and b <= bounds[j - 1])
            for j, b in enumerate(bounds)
        ):
            bad += 1
            continue
        labels = _point_labels(base, _attributes(dp.attributes), label)
        labels["__name__"] = name
        if cumulative:
            labels["otlp.start_time"] = str(dp.start_time_unix_nano)
        ts_ms = dp.time_unix_nano // 1_000_000
        every = frozenset((*(b for b in bounds if b > 0), math.inf))
        # One id per data point, extended per bucket: unique and deterministic (all the
        # converter needs), without sorting the labels again for every bucket.
        base_id = series_id(labels)
        running = 0
        for bound, count in zip((*bounds, math.inf), counts, strict=True):
            running += count
            if bound <= 0:
                continue  # the SDK's default first bound, 0: no duration is at or below it
            le = "+Inf" if bound == math.inf else repr(bound)
            out.append(
                SourcePoint(
                    {**labels, "le": le}, ts_ms, float(running), cumulative, every,
                    series=f"{base_id}\xff\x00le\xfe{le}",
                )
            )  # fmt: skip
    return bad


def _counter(
    metric: m.Metric,
    base: dict[str, str],
    mapping: RedMapping,
    label: dict[str, str],
    out: list[SourcePoint],
) -> int:
    total = metric.sum
    if total.aggregation_temporality not in (_CUMULATIVE, _DELTA):
        return len(total.data_points)
    cumulative = total.aggregation_temporality == _CUMULATIVE
    for dp in total.data_points:
        if dp.flags & _NO_RECORDED_VALUE:
            continue
        labels = _point_labels(base, _attributes(dp.attributes), label)
        labels["__name__"] = mapping.counter_metric
        if cumulative:
            labels["otlp.start_time"] = str(dp.start_time_unix_nano)
        value = float(dp.as_int) if dp.WhichOneof("value") == "as_int" else dp.as_double
        out.append(SourcePoint(labels, dp.time_unix_nano // 1_000_000, value, cumulative))
    return 0
