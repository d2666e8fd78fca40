"""instrumentation: one call gives a FastAPI service traces, RED metrics, health and logs.

    from instrumentation import instrument
    instrument(app, service="gateway", variant="canary", version="1.4.2")

gives a server span per request named by route template (`GET /docs/{id}`), client spans
with W3C traceparent for outbound httpx calls, `SELECT docs` spans for sqlite3, the RED
metrics of `sloengine.conventions`, `/metrics`, `/health`, `/ready`, and JSON log lines
carrying request, trace and span ids and a keyed hash of the user id. See
docs/instrumentation.md.
"""

from instrumentation._endpoints import ReadinessCheck
from instrumentation._hashing import USER_ID_KEY_ENV, UserIdHasher
from instrumentation._instrument import (
    Instrumentation,
    get_instrumentation,
    instrument,
    uninstrument,
)
from instrumentation._logs import (
    ACCESS_LOGGER,
    JsonFormatter,
    configure_json_logging,
    current_request_id,
)
from instrumentation._push import ENGINE_TARGET_ENV, ENGINE_TOKEN_ENV
from instrumentation._spanfile import SPAN_FILE_ENV, JsonLinesSpanExporter, span_to_dict
from instrumentation._sqlite import TracedConnection, sanitize_sql
from instrumentation._tracing import build_tracer_provider, w3c_propagator

__all__ = [
    "ACCESS_LOGGER",
    "ENGINE_TARGET_ENV",
    "ENGINE_TOKEN_ENV",
    "SPAN_FILE_ENV",
    "USER_ID_KEY_ENV",
    "Instrumentation",
    "JsonFormatter",
    "JsonLinesSpanExporter",
    "ReadinessCheck",
    "TracedConnection",
    "UserIdHasher",
    "build_tracer_provider",
    "configure_json_logging",
    "current_request_id",
    "get_instrumentation",
    "instrument",
    "sanitize_sql",
    "span_to_dict",
    "uninstrument",
    "w3c_propagator",
]
