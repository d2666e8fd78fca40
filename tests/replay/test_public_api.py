"""The replay package's public facade, pinned."""

from __future__ import annotations

from tests.support.facade import assert_facade


def test_sloengine_replay_facade() -> None:
    assert_facade(
        "sloengine.replay",
        [
            "COUNT_COLUMNS",
            "LABEL_COLUMNS",
            "SCHEMA",
            "AlertSpan",
            "CanaryReplay",
            "CanaryStep",
            "CanaryTarget",
            "History",
            "ReplayError",
            "ReplayOptions",
            "ReplayResult",
            "SLOReplay",
            "evaluation_times",
            "fetch_history",
            "format_time",
            "history_from_frame",
            "le_column",
            "parse_time",
            "read_history",
            "render_html",
            "replay_canary",
            "replay_slo",
            "result_to_json",
            "run_replay",
            "summary_table",
            "write_history",
        ],
    )
