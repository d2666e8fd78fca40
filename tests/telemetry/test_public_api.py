"""The telemetry toolkit's public modules, pinned (the package itself imports nothing, so
each module costs only its own imports)."""

from __future__ import annotations

from tests.support.facade import assert_facade


def test_red_facade() -> None:
    assert_facade(
        "sloengine.telemetry.red",
        [
            "LATENCY_BOUNDS",
            "EngineRecorder",
            "RedCollector",
            "RedRecorder",
            "bucket_index",
            "is_server_error",
            "red_collector_for",
        ],
    )


def test_tracecontext_facade() -> None:
    assert_facade(
        "sloengine.telemetry.tracecontext",
        [
            "FLAG_RANDOM",
            "FLAG_SAMPLED",
            "TRACESTATE_MAX_LENGTH",
            "TRACESTATE_MAX_MEMBERS",
            "Hop",
            "IdGenerator",
            "TraceParent",
            "continue_trace",
            "format_tracestate",
            "parse_traceparent",
            "parse_tracestate",
            "truncate_tracestate",
        ],
    )


def test_spans_facade() -> None:
    assert_facade("sloengine.telemetry.spans", ["SpanRecord", "SpanSink", "otlp_exporter_from_env"])
