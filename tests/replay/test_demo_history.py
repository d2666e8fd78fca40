"""The worked example's history (examples/replay/demo_history.py, docs/replay.md) is valid
long format and tells the story the docs tell: the gateway outage pages, the bad canary FAILs
only after it broke."""

from __future__ import annotations

from pathlib import Path

from examples.replay.demo_history import DAY_MINUTES, START, demo_history
from sloengine.replay import (
    ReplayOptions,
    evaluation_times,
    history_from_frame,
    replay_canary,
    run_replay,
)
from sloengine.specs import load_catalog

ROOT = Path(__file__).resolve().parents[2]


def test_two_days_of_demo_history_page_on_the_outage_and_fail_the_canary() -> None:
    frame = demo_history(days=2)
    history = history_from_frame(frame)
    first = START.timestamp() + 60
    last = START.timestamp() + 2 * DAY_MINUTES * 60
    catalog = load_catalog([ROOT / "examples" / "slos"])
    result = run_replay(catalog, history, ReplayOptions(first_s=first, last_s=last))
    gateway = next(r for r in result.slos if r.slo.id == "gateway-requests-availability")
    outage = START.timestamp() + (DAY_MINUTES + 14 * 60) * 60
    pages = [a for a in gateway.alerts if a.severity == "page"]
    assert pages and outage < pages[0].fired_at_s < outage + 40 * 60
    # The rollout's last 3 hours, every 5 minutes (and the hour before it).
    times = evaluation_times(last - 4 * 3600, last, 300)
    canary = replay_canary(history, times, service="gateway", revision="gateway-v2")
    broke = last - 90 * 60
    assert canary.first_fail_s is not None and canary.first_fail_s > broke
    assert {s.verdict for s in canary.steps if s.time_s < broke} <= {"PASS", "INCONCLUSIVE"}
