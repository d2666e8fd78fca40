"""Traffic profiles (rollout schedule, weight file, rollback) on a fake clock, and the reports
built from a verdict: JSON for CI, a self-contained HTML section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtests.expressions import parse_thresholds
from loadtests.intervals import IntervalBook
from loadtests.options import Settings
from loadtests.report import add_section_to_report, summary_dict, thresholds_section
from loadtests.thresholds import default_thresholds
from loadtests.traffic import TrafficError, TrafficSplit, parse_steps
from loadtests.verdict import build_verdict


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rollout_steps_through_the_schedule_then_holds_at_the_last_step() -> None:
    clock = Clock()
    split = TrafficSplit("rollout", steps=(0.1, 0.3, 0.6, 1.0), pause_seconds=30, clock=clock)
    seen = []
    for t in (0, 29.9, 30, 60, 90, 500):
        clock.now = t
        seen.append(split.current())
    assert seen == [
        (0.1, "step 1/4 (10%)"),
        (0.1, "step 1/4 (10%)"),
        (0.3, "step 2/4 (30%)"),
        (0.6, "step 3/4 (60%)"),
        (1.0, "step 4/4 (100%)"),
        (1.0, "step 4/4 (100%)"),
    ]
    clock.now = 31
    assert split.decide(0.29).variant == "canary" and split.decide(0.3).variant == "baseline"


def test_the_weight_file_caps_the_rollout_and_a_zero_rolls_it_back_for_good(
    tmp_path: Path,
) -> None:
    clock, weight = Clock(), tmp_path / "w"
    weight.write_text("0.2\n")
    split = TrafficSplit("rollout", weight_file=str(weight), pause_seconds=10, clock=clock)
    clock.now = 25  # step 3 (60%), capped by the router at 20%
    assert split.current() == (0.2, "step 3/4 (60%)")
    weight.write_text("0\n")
    clock.now = 26
    assert split.current() == (0.0, "rolled back")
    weight.write_text("1\n")
    clock.now = 40
    assert split.current() == (0.0, "rolled back")


def test_the_canary_profile_follows_the_weight_file_and_survives_a_torn_write(
    tmp_path: Path,
) -> None:
    clock, weight = Clock(), tmp_path / "w"
    split = TrafficSplit("canary", canary_weight=0.5, weight_file=str(weight), clock=clock)
    assert split.current() == (0.5, "weight 50%")  # no file yet: the option's weight
    weight.write_text("0.25")
    clock.now = 1.0
    assert split.current() == (0.25, "weight 25%")
    weight.write_text("0.2x")  # half-written: keep the last good value
    clock.now = 2.0
    assert split.current() == (0.25, "weight 25%")
    weight.write_text("0")
    clock.now = 2.5  # re-read at most once a second
    assert split.current() == (0.25, "weight 25%")
    clock.now = 3.0
    assert split.current() == (0.0, "weight 0%")


def test_bad_profile_settings() -> None:
    with pytest.raises(TrafficError, match="--loadtest-profile"):
        TrafficSplit("ramp")
    with pytest.raises(TrafficError, match="--loadtest-canary-weight"):
        TrafficSplit("canary", canary_weight=2)
    assert parse_steps("10, 30,60%,100") == (0.1, 0.3, 0.6, 1.0)
    for bad in ("", "0,50", "50,30", "10,abc", "150"):
        with pytest.raises(TrafficError):
            parse_steps(bad)


def _verdict(fault: bool):  # type: ignore[no-untyped-def]
    """Six 2-s intervals after a 2-s warm-up; GET /docs/{id} errors 30% when `fault`."""
    settings = Settings(
        profile="canary",
        warmup_seconds=2,
        interval_seconds=2,
        last_intervals=3,
        thresholds=default_thresholds(1.5, 0.01).overlay(
            parse_thresholds({"http_req_duration{name:GET /search}": ["p(95)<100"]})
        ),
        canary_host="http://canary",
    )
    book, start = IntervalBook(2.0), 1000.0
    for i in range(80):
        at = start + i * 0.2
        book.record("GET /search", "baseline", "", at, 20 + i % 7, False)
        book.record(
            "GET /docs/{id}",
            "canary" if i % 4 == 0 else "baseline",
            "",
            at,
            30,
            fault and i % 10 < 3,
        )
    return build_verdict(book, settings, start, start + 16, final=True)


def test_json_summary_for_ci() -> None:
    verdict = _verdict(fault=True)
    data = json.loads(json.dumps(summary_dict(verdict, workers=2)))
    assert data["verdict"] == "fail" and data["exit_code"] == 1
    assert data["breached_endpoints"] == ["GET /docs/{id}"]
    docs = next(e for e in data["endpoints"] if e["name"] == "GET /docs/{id}")
    assert [i["offset_seconds"] for i in docs["intervals"]][:2] == [2.0, 4.0]
    assert docs["thresholds"][-1]["expression"] == "rate<0.01" and not docs["thresholds"][-1]["ok"]
    assert data["steps"][0]["canary_share"] == pytest.approx(0.125, abs=0.01)
    assert data["summary"][-1] == "thresholds breached by: GET /docs/{id}"
    assert _verdict(fault=False).ok


def test_the_html_section_draws_limits_and_trend_without_anything_external() -> None:
    section = thresholds_section(_verdict(fault=True))
    assert section.count("<svg") == 4 and section.count("<polyline") == 4
    assert "limit 100 ms" in section and "limit 0.01" in section
    assert "<script" not in section and "src=" not in section and "href=" not in section
    assert 'GET /docs/{id} <span class="fail">BREACH</span>' in section
    page = "<html><body><div id=root></div><script>x='</body>'</script></body></html>"
    once = add_section_to_report(page, section)
    twice = add_section_to_report(once, section)
    assert once == twice and once.endswith(section + "</body></html>")
