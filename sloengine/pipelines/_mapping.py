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
from dataclasses import dataclass
from typing import Any, Literal

from sloengine import conventions
from sloengine.errors import SpecError

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
        if doc is None:
            return cls()
        if not isinstance(doc, Mapping):
            raise SpecError(file, "pipelines.mapping", "must be a mapping")
        known = {"counter_metric", "histogram_metric", "requests_from", "labels"}
        for key in doc:
            if key not in known:
                raise SpecError(
                    file, f"pipelines.mapping.{key}", f"unknown key; known: {sorted(known)}"
                )
        out = cls()
        for key in ("counter_metric", "histogram_metric"):
            if key in doc:
                if not isinstance(doc[key], str) or not doc[key]:
                    raise SpecError(file, f"pipelines.mapping.{key}", "must be a metric name")
                out = _replace(out, **{key: doc[key]})
        if "requests_from" in doc:
            if doc["requests_from"] not in ("histogram", "counter"):
                raise SpecError(
                    file, "pipelines.mapping.requests_from", "must be 'histogram' or 'counter'"
                )
            out = _replace(out, requests_from=doc["requests_from"])
        if "labels" in doc:
            labels = doc["labels"]
            if not isinstance(labels, Mapping):
                raise SpecError(file, "pipelines.mapping.labels", "must be a mapping")
            merged = dict(out.labels)
            for engine, source in labels.items():
                if engine not in merged:
                    raise SpecError(
                        file,
                        f"pipelines.mapping.labels.{engine}",
                        f"not an engine label; known: {list(_ENGINE_LABELS)}",
                    )
                if not isinstance(source, str) or not source:
                    raise SpecError(
                        file, f"pipelines.mapping.labels.{engine}", "must be a label name"
                    )
                merged[engine] = source
            out = _replace(out, labels=tuple(merged.items()))
        return out


def _replace(mapping: RedMapping, **changes: Any) -> RedMapping:
    from dataclasses import replace

    return replace(mapping, **changes)


def parse_le(text: str) -> float | None:
    """A bucket's upper bound (`+Inf` included); None when it is not a positive number."""
    try:
        bound = float(text)
    except ValueError:
        return None
    if math.isnan(bound) or bound <= 0:
        return None
    return bound
