"""A span exporter writing one JSON object per line, for runs without a collector.

Several processes may share one file: each batch is one `write(2)` on an `O_APPEND`
descriptor, so lines from different services never interleave. `sloengine traces linkage` reads
these files (`sloengine.traces.read_span_file`).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = ["SPAN_FILE_ENV", "JsonLinesSpanExporter", "span_to_dict"]

SPAN_FILE_ENV = "SLOENGINE_SPAN_FILE"


def span_to_dict(span: ReadableSpan) -> dict[str, Any]:
    """The JSON-lines record of one finished span (ids as lowercase hex, as on the wire)."""
    ctx = span.get_span_context()
    parent = span.parent
    resource = span.resource.attributes if span.resource is not None else {}
    return {
        "trace_id": format(ctx.trace_id, "032x") if ctx else None,
        "span_id": format(ctx.span_id, "016x") if ctx else None,
        "parent_span_id": format(parent.span_id, "016x") if parent else None,
        "parent_is_remote": bool(parent.is_remote) if parent else False,
        "name": span.name,
        "kind": span.kind.name,
        "service": resource.get("service.name"),
        "variant": resource.get("variant"),
        "start_unix_nano": span.start_time,
        "end_unix_nano": span.end_time,
        "status": span.status.status_code.name,
        "attributes": {k: _jsonable(v) for k, v in (span.attributes or {}).items()},
    }


def _jsonable(value: object) -> object:
    if isinstance(value, tuple):
        return list(value)
    return value


class JsonLinesSpanExporter(SpanExporter):
    """Appends finished spans to `path` as JSON lines (see `span_to_dict`)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        data = "".join(json.dumps(span_to_dict(s), separators=(",", ":")) + "\n" for s in spans)
        with self._lock:
            if self._fd is None:
                return SpanExportResult.FAILURE
            os.write(self._fd, data.encode())
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
