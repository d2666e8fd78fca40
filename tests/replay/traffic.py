"""Agreement timelines (tests/agreement/traffic.py) as history rows in the long format.

Step i of a timeline covers `((i-1)*s, i*s]` and is one row per series with traffic, time
`base + i*s`: the engine's pushes, promtool's counters and the replay read the same counts.
Fast requests count under every bound from 0.1 s, slow ones from 1 s (as the histograms of
`input_series` and `push_requests` put them).
"""

from __future__ import annotations

import pandas as pd

from sloengine import conventions as c
from sloengine.replay import LABEL_COLUMNS, le_column
from tests.agreement.traffic import Timeline

__all__ = ["timeline_frame"]

BOUNDS = c.DEFAULT_LATENCY_BUCKETS_SECONDS


def timeline_frame(timeline: Timeline, base_unix_s: int, revision: str = "") -> pd.DataFrame:
    """One row per (step, series with requests); idle steps send no row at all."""
    rows = []
    for step, phase in timeline.step_phases():
        for s in timeline.series:
            counts = phase.counts.get(s)
            if counts is None or counts.requests == 0:
                continue
            row: dict[str, object] = {
                "time": base_unix_s + step * timeline.step_seconds,
                "service": s.service,
                "variant": s.variant,
                "revision": revision,
                "route": s.route,
                "method": s.method,
                "status_class": "",
                "requests": counts.requests,
                "errors": counts.server_errors,
            }
            for bound in BOUNDS:
                fast = counts.requests - counts.slow if bound >= 0.1 else 0
                slow = counts.slow if bound >= 1.0 else 0
                # A series without a histogram leaves its le_ cells empty.
                row[le_column(bound)] = fast + slow if s.has_histogram else None
            rows.append(row)
    columns = [*LABEL_COLUMNS, "time", "requests", "errors", *(le_column(b) for b in BOUNDS)]
    return pd.DataFrame(rows, columns=columns)
