"""Replay: SLOs, burn-rate policies and canary guards tried on recorded history.

    history = read_history("traffic.csv")            # or fetch_history(prometheus_url, ...)
    result = run_replay(catalog, history, ReplayOptions(first_s, last_s, policies=(None,)))
    print(summary_table(result)); result_to_json(result); render_html(result)

The maths is the engine's: burn rates and budgets through `sloengine.maths.burn` (its array
forms), windows through `sloengine.engine.evaluate.status_windows`, canary verdicts through the
engine's `CanaryCore` over a store filled step by step. See docs/replay.md.
"""

from sloengine.replay._canary import CanaryReplay, CanaryStep, replay_canary
from sloengine.replay._history import (
    COUNT_COLUMNS,
    LABEL_COLUMNS,
    History,
    history_from_frame,
    le_column,
    read_history,
    write_history,
)
from sloengine.replay._prometheus import fetch_history
from sloengine.replay._report_data import SCHEMA, format_time, result_to_json, summary_table
from sloengine.replay._run import (
    CanaryTarget,
    ReplayOptions,
    ReplayResult,
    evaluation_times,
    parse_time,
    run_replay,
)
from sloengine.replay._slo import AlertSpan, SLOReplay, replay_slo
from sloengine.replay.errors import ReplayError

__all__ = [
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
]


def render_html(result: ReplayResult) -> str:
    """The self-contained HTML report (imports plotly only when asked for)."""
    from sloengine.replay._report_html import render_html as render

    return render(result)
