"""The ingest pipelines' public facade, pinned."""

from __future__ import annotations

from tests.support.facade import assert_facade


def test_sloengine_pipelines_facade() -> None:
    assert_facade(
        "sloengine.pipelines",
        [
            "OTLP_METRICS_PATH",
            "OTLP_METRICS_SERVICE",
            "REMOTE_WRITE_PATH",
            "STALE_NAN_BITS",
            "EngineRow",
            "IngestResult",
            "PayloadError",
            "PipelineReceiver",
            "PromWindowSource",
            "RedConverter",
            "RedMapping",
            "SourcePoint",
            "decode_write_request",
            "is_stale_marker",
            "receiver_options",
            "start",
            "verdict_window_source",
        ],
    )
