"""The public surface is small, explicit and importable."""

from __future__ import annotations

import instrumentation


def test_exported_members_are_exactly_the_documented_facade() -> None:
    assert len(instrumentation.__all__) == len(set(instrumentation.__all__))
    assert set(instrumentation.__all__) == {
        "ACCESS_LOGGER", "ENGINE_TARGET_ENV", "ENGINE_TOKEN_ENV", "SPAN_FILE_ENV",
        "USER_ID_KEY_ENV", "Instrumentation", "JsonFormatter", "JsonLinesSpanExporter",
        "ReadinessCheck", "TracedConnection", "UserIdHasher", "build_tracer_provider",
        "configure_json_logging", "current_request_id", "get_instrumentation", "instrument",
        "sanitize_sql", "span_to_dict", "uninstrument", "w3c_propagator",
    }  # fmt: skip
    for name in instrumentation.__all__:
        assert getattr(instrumentation, name) is not None
