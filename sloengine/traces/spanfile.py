"""JSON-lines span files, as written by `instrumentation.JsonLinesSpanExporter`.

One object per line with at least `trace_id`, `span_id`, `parent_span_id` (null for a
root), `name`, `kind`, `service` and `attributes`. A malformed line is a SpecError naming
the file, the line and the field.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sloengine.errors import SpecError
from sloengine.traces.linkage import SpanRecord

__all__ = ["read_span_file", "write_span_file"]

_HEX_LENGTHS = {"trace_id": 32, "span_id": 16, "parent_span_id": 16}


def _hex_id(obj: dict[str, Any], key: str, where: str, path: str) -> str | None:
    value = obj.get(key)
    if value is None and key == "parent_span_id":
        return None
    if (
        not isinstance(value, str)
        or len(value) != _HEX_LENGTHS[key]
        or value.strip("0123456789abcdef")
    ):
        raise SpecError(path, f"{where}.{key}", f"must be {_HEX_LENGTHS[key]} lowercase hex digits")
    return value


def record_from_dict(obj: Any, path: str, where: str) -> SpanRecord:
    """One span record from a decoded JSON object (validated)."""
    if not isinstance(obj, dict):
        raise SpecError(path, where, "must be a JSON object")
    attributes = obj.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise SpecError(path, f"{where}.attributes", "must be an object")
    trace_id = _hex_id(obj, "trace_id", where, path)
    span_id = _hex_id(obj, "span_id", where, path)
    assert trace_id is not None and span_id is not None
    return SpanRecord(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=_hex_id(obj, "parent_span_id", where, path),
        name=str(obj.get("name", "")),
        kind=str(obj.get("kind", "INTERNAL")).upper(),
        service=str(obj.get("service") or "unknown"),
        db_system=_db_system(attributes),
        route=None if attributes.get("http.route") is None else str(attributes["http.route"]),
    )


def _db_system(attributes: dict[str, Any]) -> str | None:
    value = attributes.get("db.system", attributes.get("db.system.name"))
    return None if value is None else str(value)


def read_span_file(path: str | os.PathLike[str]) -> list[SpanRecord]:
    """Every span of a JSON-lines file (a directory: every `*.jsonl` file in it)."""
    p = Path(path)
    files = sorted(p.glob("*.jsonl")) if p.is_dir() else [p]
    records: list[SpanRecord] = []
    for file in files:
        with open(file, encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    # A writer killed mid-line leaves a torn last line: skip only that one.
                    if not line.endswith("\n"):
                        continue
                    raise SpecError(str(file), f"line {number}", f"not JSON: {exc.msg}") from None
                records.append(record_from_dict(obj, str(file), f"line {number}"))
    return records


def write_span_file(path: str | os.PathLike[str], spans: Iterable[SpanRecord]) -> int:
    """Write records as JSON lines (the subset linkage reads); returns the count."""
    count = 0
    with open(path, "w", encoding="utf-8") as fh:
        for s in spans:
            attributes: dict[str, str] = {}
            if s.db_system:
                attributes["db.system"] = s.db_system
            if s.route:
                attributes["http.route"] = s.route
            obj = {
                "trace_id": s.trace_id,
                "span_id": s.span_id,
                "parent_span_id": s.parent_span_id,
                "name": s.name,
                "kind": s.kind,
                "service": s.service,
                "attributes": attributes,
            }
            fh.write(json.dumps(obj, separators=(",", ":")) + "\n")
            count += 1
    return count
