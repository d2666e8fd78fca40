"""Facades of packages without a test folder of their own, pinned."""

from __future__ import annotations

from tests.support.facade import assert_facade


def test_sloengine_traces_facade() -> None:
    assert_facade(
        "sloengine.traces",
        [
            "LinkageReport",
            "OtlpReceiver",
            "SpanRecord",
            "linkage_report",
            "read_span_file",
            "spans_from_otlp",
            "write_span_file",
        ],
    )


def test_sloengine_cli_facade() -> None:
    assert_facade(
        "sloengine.cli",
        [
            "SUBCOMMANDS",
            "build_parser",
            "main",
        ],
    )


def test_sloengine_engine_facade() -> None:
    assert_facade(
        "sloengine.engine",
        [
            "Clock",
            "IngestLimits",
            "Readiness",
            "StatusService",
            "StoreHandle",
            "StoreWindows",
            "WindowSource",
        ],
    )
