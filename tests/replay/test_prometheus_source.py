"""History read from a real Prometheus replays exactly like the same history from a CSV.

The agreement suite's gateway timeline is written as OpenMetrics counters (requests by
status, latency buckets), backfilled into a fresh TSDB with `promtool tsdb
create-blocks-from openmetrics`, and served by a real Prometheus on loopback;
`sloengine replay --prometheus-url` reads it back in chunks (small ones here, to cross
chunk edges) and must report the same alerts, budgets and SLIs as `--input` on the CSV.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from sloengine.cli import main
from sloengine.replay import _prometheus as prom_source
from sloengine.replay import write_history
from tests.agreement.test_engine_rules_agree import CATALOG, GATEWAY_TIMELINE
from tests.agreement.traffic import FAST_BUCKET, SLOW_BUCKET, Timeline
from tests.replay.traffic import timeline_frame
from tests.support.prometheus import PrometheusServer, promtool

pytestmark = pytest.mark.integration
BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0, 10.0)


def _labels(d: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(d.items())) + "}"


def openmetrics(timeline: Timeline, base: int) -> str:
    """Cumulative counters sampled at every step from 0 (all zero) to the last."""
    steps = list(timeline.step_phases())
    s = timeline.step_seconds
    requests, buckets = [], []
    for series in timeline.series:
        key = series.labels()
        for status, part in (("200", "ok"), ("404", "client_errors"), ("500", "server_errors")):
            total, lines = 0, [f"http_requests_total{_labels({**key, 'status': status})} 0 {base}"]
            for i, phase in steps:
                total += getattr(phase.counts.get(series), part, 0) if series in phase.counts else 0
                lines.append(
                    f"http_requests_total{_labels({**key, 'status': status})} {total} {base + i * s}"
                )
            requests += lines
        for j, bound in [*enumerate(BOUNDS), (len(BOUNDS), math.inf)]:
            le = "+Inf" if bound == math.inf else repr(bound)
            name = f"http_request_duration_seconds_bucket{_labels({**key, 'le': le})}"
            total, lines = 0, [f"{name} 0 {base}"]
            for i, phase in steps:
                c = phase.counts.get(series)
                if c is not None:
                    total += (c.requests - c.slow) * (j >= FAST_BUCKET) + c.slow * (
                        j >= SLOW_BUCKET
                    )
                lines.append(f"{name} {total} {base + i * s}")
            buckets += lines
    return "\n".join(
        [
            "# TYPE http_requests counter",
            *requests,
            "# TYPE http_request_duration_seconds histogram",
            *buckets,
            "# EOF",
            "",
        ]
    )


def test_prometheus_history_replays_like_the_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Recent enough for the default 15d retention; a whole day so steps are on the minute.
    base = int(time.time() // 86400 - 3) * 86400
    first, last = base + 60, base + GATEWAY_TIMELINE.steps * 60
    om = tmp_path / "history.om"
    om.write_text(openmetrics(GATEWAY_TIMELINE, base))
    workdir = tmp_path / "prom"
    result = promtool("tsdb", "create-blocks-from", "openmetrics", str(om), str(workdir / "data"))
    assert result.returncode == 0, result.stderr
    csv = tmp_path / "history.csv"
    write_history(timeline_frame(GATEWAY_TIMELINE, base), csv)
    common = ["replay", str(CATALOG), "--from", str(first), "--to", str(last),
              "--policy", "fast-slow", "--json", "-"]  # fmt: skip

    assert main([*common, "--input", str(csv)]) == 0
    from_csv = json.loads(capsys.readouterr().out)
    # 90-step chunks: the 5.5 hours (and the 30-day lookback's empty start) cross many edges.
    monkeypatch.setattr(prom_source, "MAX_POINTS_PER_QUERY", 90)
    with PrometheusServer(workdir) as prom:
        code = main([*common, "--prometheus-url", prom.url, "--lookback", "2h"])
        captured = capsys.readouterr()
    assert code == 0, captured.err
    from_prom = json.loads(captured.out)
    assert "fetching chunk 1/" in captured.err and "fetching chunk 5/" in captured.err
    strip = ("source",)
    a = [{k: v for k, v in r.items() if k not in strip} for r in from_csv["slos"]]
    b = [{k: v for k, v in r.items() if k not in strip} for r in from_prom["slos"]]
    gateway = [r for r in a if r["service"] == "gateway"]
    assert gateway and any(r["alerts"] for r in gateway)
    assert a == b
