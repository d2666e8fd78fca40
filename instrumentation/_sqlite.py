"""Database spans for the standard library's sqlite3.

`sqlite3.Connection` is a C type that cannot be patched, but it can be subclassed: the hook
replaces `sqlite3.connect` with a version passing `factory=TracedConnection` (unless the
caller chose a factory), and `TracedConnection` hands out `TracedCursor`s. Spans are named
`OPERATION table` (`SELECT docs`) and carry the stable database semantic conventions
(`db.system.name=sqlite`, `db.namespace`, `db.operation.name`, `db.collection.name`, and
`db.query.text` sanitized: literals become `?`, so values such as user ids and search terms
never reach a span).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode

from instrumentation import _semconv as sc
from instrumentation._context import outbound_tracer
from instrumentation._failsafe import Failsafe

__all__ = [
    "TracedConnection",
    "TracedCursor",
    "patch_sqlite3",
    "sanitize_sql",
    "span_name_for",
    "unpatch_sqlite3",
]

_FAILSAFE = Failsafe()

_LITERALS = re.compile(
    r"""'(?:[^']|'')*'"""  # string literals ('it''s')
    r"""|\bx'[0-9a-fA-F]*'"""  # blob literals
    r"""|(?<![\w.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b"""  # numbers not part of identifiers
)
_TABLE = re.compile(
    r"\b(?:FROM|INTO|UPDATE|TABLE(?:\s+IF\s+(?:NOT\s+)?EXISTS)?|JOIN)\s+[\"`\[]?([\w.]+)",
    re.IGNORECASE,
)
_SPACES = re.compile(r"\s+")
_CACHE_MAX = 1024
_meta_cache: dict[str, tuple[str, str, str | None, str]] = {}


def sanitize_sql(statement: str) -> str:
    """The statement with string, blob and numeric literals replaced by `?`."""
    return _SPACES.sub(" ", _LITERALS.sub("?", statement)).strip()


def span_name_for(statement: str) -> str:
    """`OPERATION table` for a statement, e.g. `SELECT docs`; just the operation if no table."""
    return _meta(statement)[0]


def _meta(statement: str) -> tuple[str, str, str | None, str]:
    cached = _meta_cache.get(statement)
    if cached is not None:
        return cached
    words = statement.split(None, 1)
    operation = words[0].upper() if words else "SQL"
    match = _TABLE.search(statement)
    table = match.group(1) if match else None
    name = f"{operation} {table}" if table else operation
    meta = (name, operation, table, sanitize_sql(statement))
    if len(_meta_cache) >= _CACHE_MAX:
        _meta_cache.clear()
    _meta_cache[statement] = meta
    return meta


def _start_span(statement: str, db_name: str) -> Any:
    tracer = outbound_tracer()
    if tracer is None:
        return None
    try:
        name, operation, table, sanitized = _meta(statement)
        attributes: dict[str, str] = {
            sc.DB_SYSTEM_NAME: sc.DB_SYSTEM_SQLITE,
            sc.DB_NAMESPACE: db_name,
            sc.DB_OPERATION_NAME: operation,
            sc.DB_QUERY_TEXT: sanitized,
        }
        if table:
            attributes[sc.DB_COLLECTION_NAME] = table
        return tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
    except Exception as exc:
        _FAILSAFE.report("sqlite3.start", exc)
        return None


def _end_span(span: Any, exc: BaseException | None) -> None:
    if span is None:
        return
    try:
        if exc is not None:
            span.set_attribute(sc.ERROR_TYPE, type(exc).__qualname__)
            span.set_status(Status(StatusCode.ERROR, str(exc)))
        span.end()
    except Exception as err:
        _FAILSAFE.report("sqlite3.end", err)


class TracedCursor(sqlite3.Cursor):
    """A cursor whose `execute`/`executemany` each produce one span."""

    def execute(self, sql: str, parameters: Any = (), /) -> TracedCursor:
        span = _start_span(sql, _db_name(self.connection))
        try:
            super().execute(sql, parameters)
        except BaseException as exc:
            _end_span(span, exc)
            raise
        _end_span(span, None)
        return self

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> TracedCursor:
        span = _start_span(sql, _db_name(self.connection))
        try:
            super().executemany(sql, seq_of_parameters)
        except BaseException as exc:
            _end_span(span, exc)
            raise
        _end_span(span, None)
        return self


class TracedConnection(sqlite3.Connection):
    """A connection whose cursors (and shortcut `execute*` methods) are traced."""

    db_name: str = "sqlite"

    def cursor(self, factory: Any = TracedCursor) -> Any:
        return super().cursor(factory)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> sqlite3.Cursor:
        return self.cursor().executemany(sql, parameters)


def _db_name(connection: sqlite3.Connection) -> str:
    return getattr(connection, "db_name", "sqlite")


_original_connect = sqlite3.connect
_lock = threading.Lock()
_refs = [0]


def _traced_connect(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
    if "factory" not in kwargs and len(args) < 4:
        kwargs["factory"] = TracedConnection
    conn = _original_connect(database, *args, **kwargs)
    if isinstance(conn, TracedConnection):
        conn.db_name = Path(str(database)).name or str(database)
    return conn


def patch_sqlite3() -> None:
    """Make `sqlite3.connect` return traced connections (reference counted)."""
    with _lock:
        _refs[0] += 1
        if _refs[0] == 1:
            sqlite3.connect = _traced_connect  # type: ignore[assignment]
            sqlite3.dbapi2.connect = _traced_connect  # type: ignore[assignment]


def unpatch_sqlite3() -> None:
    """Release one reference; the last one restores `sqlite3.connect`."""
    with _lock:
        if _refs[0] == 0:
            return
        _refs[0] -= 1
        if _refs[0] == 0:
            sqlite3.connect = _original_connect
            sqlite3.dbapi2.connect = _original_connect
