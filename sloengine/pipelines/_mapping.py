"""Which incoming series are RED metrics, and which engine series they feed.

A Prometheus (or OTel-translated) series is one of:
- a latency histogram bucket `http_request_duration_seconds_bucket{..., le}`: the source of
  requests (the `+Inf` bucket), errors (the `+Inf` bucket of a 5xx status) and latency;
- a request counter `http_requests_total{...}`: requests and errors only, for senders that
  export no histogram (`requests_from: counter`); ignored otherwise, because the histogram's
  `+Inf` bucket counts the same requests and adding both would double them.

Engine series keys: `service`, `variant`, `route`, `method` and `revision` (an extra label);
`status` becomes the error count, never a label. Every name is configurable (YAML
`pipelines.mapping`), so a sender with other label names (`job`, `handler`, `code`) maps in
without relabelling.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from sloengine import conventions
from sloengine.settings import fields as f
from sloengine.settings.fields import At

__all__ = ["RedMapping", "SourceKind", "parse_le"]

SourceKind = Literal["bucket", "counter"]

_ENGINE_LABELS = ("service", "variant", "route", "method", "revision", "status")


@dataclass(frozen=True)
class RedMapping:
    """Metric and label names of the senders' RED metrics.

    `labels` maps an engine label (service, variant, route, method, revision, status) to the
    sender's label name. `requests_from` picks the histogram (default: it also carries
    latency) or the counter as the source of request and error counts.
    """

    counter_metric: str = conventions.HTTP_REQUESTS_TOTAL
    histogram_metric: str = conventions.HTTP_REQUEST_DURATION_SECONDS
    requests_from: Literal["histogram", "counter"] = "histogram"
    labels: tuple[tuple[str, str], ...] = tuple((k, k) for k in _ENGINE_LABELS)
    error_status_prefix: str = "5"

    def source_label(self, engine_label: str) -> str:
        return dict(self.labels)[engine_label]

    def kind_of(self, metric_name: str) -> SourceKind | None:
        """'bucket', 'counter', or None for a series the engine does not read."""
        if metric_name == self.histogram_metric + "_bucket":
            return "bucket" if self.requests_from == "histogram" else None
        if metric_name == self.counter_metric and self.requests_from == "counter":
            return "counter"
        return None

    def engine_key(self, labels: Mapping[str, str]) -> tuple[tuple[str, str], ...] | None:
        """The engine series (sorted labels, empty values dropped); None without a service."""
        names = dict(self.labels)
        if not labels.get(names["service"]):
            return None
        pairs = [
            (engine, labels[source])
            for engine, source in names.items()
            if engine != "status" and labels.get(source)
        ]
        return tuple(sorted(pairs))

    def is_error(self, labels: Mapping[str, str]) -> bool:
        """A server error: the status label is a 5xx code (`5..`, as the canary queries)."""
        status = labels.get(self.source_label("status"), "")
        return len(status) == 3 and status.startswith(self.error_status_prefix)

    @classmethod
    def from_config(cls, doc: Any, file: str = "") -> RedMapping:
        """From YAML `pipelines.mapping`; SpecError naming the field on anything unknown."""
        at = At(file, "pipelines.mapping")
        doc = f.mapping(doc, at)
        f.check_known(doc, ("counter_metric", "histogram_metric", "requests_from", "labels"), at)
        out = cls()
        read: dict[str, Any] = {
            "counter_metric": f.read(doc, "counter_metric", _name, at, "a metric name"),
            "histogram_metric": f.read(doc, "histogram_metric", _name, at, "a metric name"),
            "requests_from": f.read(doc, "requests_from", f.choice, at, ("histogram", "counter")),
        }
        labels = f.mapping(doc.get("labels"), at.key("labels"))
        if labels:
            merged = dict(out.labels)
            for engine, source in labels.items():
                if engine not in merged:
                    raise at.key("labels").key(engine).error(
                        f"not an engine label; known: {', '.join(_ENGINE_LABELS)}"
                    )
                merged[engine] = _name(source, at.key("labels").key(engine), "a label name")
            read["labels"] = tuple(merged.items())
        return replace(out, **{k: v for k, v in read.items() if v is not None})


def _name(value: Any, at: At, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise at.error(f"must be {what}")
    return value


def parse_le(text: str) -> float | None:
    """A bucket's upper bound (`+Inf` included); None when it is not a positive number."""
    try:
        bound = float(text)
    except ValueError:
        return None
    if math.isnan(bound) or bound <= 0:
        return None
    return bound
