"""Structured JSON logs: every line carries the request's ids, whoever logged it.

The middleware puts the request's `RequestContext` in a context variable while serving it; `JsonFormatter` adds its fields and the current span's ids to every record,
so app logs (`logging.getLogger(__name__).info(...)`) are correlated with no extra code.
Raw user ids never reach this module: the context holds only their HMAC.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import IO, Any

from opentelemetry import trace

from instrumentation._context import current_request

__all__ = ["ACCESS_LOGGER", "JsonFormatter", "configure_json_logging", "current_request_id"]

ACCESS_LOGGER = "instrumentation.access"


def current_request_id() -> str | None:
    """The request id of the request being served (to forward downstream), else None."""
    request = current_request.get()
    return request.request_id if request is not None else None


# LogRecord's own attributes; anything else on a record came from `extra=` and is emitted.
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request and trace ids.

    Fields passed with `extra=` are added at the top level (they may not shadow the
    standard ones). Exceptions go in `exc_info` as the formatted traceback.
    """

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": _iso_utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        ctx = current_request.get()
        if ctx is not None:
            out["service"] = ctx.service
            out["variant"] = ctx.variant
            out["request_id"] = ctx.request_id
            out["user_id"] = ctx.user_id
            out["feature_flag_state"] = ctx.feature_flag_state
            out["data_version"] = ctx.data_version
        span_ctx = trace.get_current_span().get_span_context()
        if span_ctx.is_valid:
            out["trace_id"] = format(span_ctx.trace_id, "032x")
            out["span_id"] = format(span_ctx.span_id, "016x")
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key not in out:
                out[key] = value
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, separators=(",", ":"))


def _iso_utc(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created * 1000) % 1000:03d}Z"


def configure_json_logging(level: int | str = logging.INFO, stream: IO[str] | None = None) -> None:
    """Send the root logger's records to `stream` (stderr) as JSON lines at `level`.

    Replaces the root handlers, so call it once at process start (the demo services do).
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
