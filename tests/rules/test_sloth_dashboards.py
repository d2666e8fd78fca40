"""`--labels sloth`: the queries of Sloth's Grafana dashboard (grafana.com 14348, "Detailed
Sloth SLOs") return the same data from our rules as from the rules Sloth generated itself.

Two real Prometheus servers scrape one target every second: one loads Sloth's own rules for
its getting-started spec (corpus `_gen/`), the other ours from `sloengine generate
--labels sloth` for the same spec. The target's counters grow linearly in time at a fixed
error ratio (13 of 613 requests are 5xx or 429: 21.2x the 0.1% budget, so both page), so
every window's ratio is that constant on both sides, whatever their scrape phases. Each
dashboard query is interpolated as Grafana would and run on both at the same instant; the
series must match one to one on the labels the dashboard reads, and their values agree.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from sloengine.cli import main as sloengine_main
from tests.support.prometheus import PrometheusServer

pytestmark = pytest.mark.integration

CORPUS = Path(
    os.environ.get(
        "SLOENGINE_CORPUS", Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
    )
)
SPEC = CORPUS / "sloth" / "examples" / "getting-started.yml"
SLOTH_RULES = CORPUS / "sloth" / "_gen" / "getting-started.yml"
SERVICE, SLO = "myservice", "requests-availability"
PER_SECOND = {"200": 600.0, "500": 9.0, "429": 4.0}

# The dashboard's queries, with ${service} and ${slo} interpolated; ${sli_window} takes each
# of the dashboard's window choices, and ${min_burning_rate} 1 (its default).
_SEL = f'sloth_service="{SERVICE}", sloth_slo="{SLO}"'
SLI_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d")
QUERIES = {
    "exceeded burning rate": "slo:current_burn_rate:ratio > 1",
    "objective": f"slo:objective:ratio{{{_SEL}}}",
    **{
        f"SLI {w}": f"1 - (max(slo:sli_error:ratio_rate{w}{{{_SEL}}}) OR on() vector(0))"
        for w in SLI_WINDOWS
    },
    "current burning budget": f"slo:current_burn_rate:ratio{{{_SEL}}} or on() vector(0)",
    "remaining budget (30d window)": (
        f"slo:period_error_budget_remaining:ratio{{{_SEL}}} or on() vector(1)"
    ),
    # The month panels: as the dashboard has it ([32d:1h], empty until an hour boundary
    # has data), and over the last 10s at 1s steps, which both servers have in full.
    **{
        f"remaining budget (month, {span})": (
            "1-(sum_over_time((slo:sli_error:ratio_rate1h{"
            f'sloth_service="{SERVICE}",sloth_slo="{SLO}"'
            "} * on() group_left() (month() == bool vector("
            f"{time.gmtime().tm_mon})))[{span}]) / on(sloth_id) (slo:error_budget:ratio{{"
            f'sloth_service="{SERVICE}",sloth_slo="{SLO}"'
            "} *on() group_left() (24 * days_in_month())))"
        )
        for span in ("32d:1h", "10s:1s")
    },
    "burn rate magnitude": f"slo:current_burn_rate:ratio{{{_SEL}}} > 0",
    "warning alert": f'max(ALERTS{{{_SEL}, sloth_severity="ticket"}}) OR on() vector(0)',
    "critical alert": f'max(ALERTS{{{_SEL}, sloth_severity="page"}}) or on() vector(0)',
    "service variable": "count by (sloth_service) (slo:objective:ratio)",
    "slo variable": f'count by (sloth_slo) (slo:objective:ratio{{sloth_service="{SERVICE}"}})',
    "time period": f"slo:time_period:days{{{_SEL}}}",
}
# Labels the dashboard reads (legends, table columns, joins, variables).
READ_LABELS = ("sloth_id", "sloth_service", "sloth_slo", "sloth_severity")


class _LinearTarget:
    """`http_request_duration_seconds_count{code}` growing linearly with wall time."""

    def __init__(self) -> None:
        self.start = time.time()
        self.server = make_server("127.0.0.1", 0, self.app, handler_class=_Quiet)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def app(self, environ: Any, start_response: Any) -> list[bytes]:
        # Whole milliseconds times whole rates, printed exactly: every counter is the same
        # multiple of elapsed time, so every window's error ratio is 13/613 to the last bit.
        elapsed_ms = int((time.time() - self.start) * 1000)
        lines = ["# TYPE http_request_duration_seconds_count counter"]
        lines += [
            f'http_request_duration_seconds_count{{code="{code}"}} {int(rate) * elapsed_ms}e-3'
            for code, rate in PER_SECOND.items()
        ]
        start_response("200 OK", [("Content-Type", "text/plain; version=0.0.4")])
        return [("\n".join(lines) + "\n").encode()]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _prometheus(workdir: Path, rules: list[Path], target: str) -> PrometheusServer:
    return PrometheusServer(
        workdir,
        rule_files=rules,
        scrape_configs=[{"job_name": SERVICE, "static_configs": [{"targets": [target]}]}],
        evaluation_interval="1s",
        scrape_interval="1s",
    )


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrometheusServer, ...]]:
    if not SLOTH_RULES.exists():
        pytest.skip(f"corpus not available at {CORPUS} (set SLOENGINE_CORPUS)")
    out = tmp_path_factory.mktemp("ours")
    argv = ["generate", str(SPEC), "--out", str(out), "--labels", "sloth"]
    assert sloengine_main([*argv, "--period-interval", "1s", "--no-canary-guards"]) == 0
    target = _LinearTarget()
    target.thread.start()
    sloth = _prometheus(tmp_path_factory.mktemp("sloth"), [SLOTH_RULES], target.address)
    ours = _prometheus(
        tmp_path_factory.mktemp("prom"),
        sorted((out / "alerts").glob("*.rules.yml")),
        target.address,
    )
    try:
        with sloth, ours:
            # ~20 s of evaluations are needed; the bound only catches a server that never gets there.
            deadline = time.monotonic() + 120
            ready = (
                'ALERTS{sloth_severity="page"} and on() slo:sli_error:ratio_rate30d'
                " and on() count_over_time(slo:sli_error:ratio_rate1h[20s]) >= 15"
            )
            while time.monotonic() < deadline:
                if all(p.query(ready)["result"] for p in (sloth, ours)):
                    break
                time.sleep(0.5)
            else:
                raise TimeoutError("no 30d ratio or page alert on both servers in 120s")
            yield sloth, ours
    finally:
        target.server.shutdown()


def _series(result: list[dict[str, Any]]) -> dict[tuple[tuple[str, str], ...], float]:
    out = {}
    for item in result:
        key = tuple((k, item["metric"][k]) for k in READ_LABELS if k in item["metric"])
        assert key not in out, f"two series for {key}"
        out[key] = float(item["value"][1])
    return out


def _compare(sloth: PrometheusServer, ours: PrometheusServer, query: str) -> list[str]:
    at = time.time() - 2
    expected = _series(sloth.query(query, at)["result"])
    got = _series(ours.query(query, at)["result"])
    if sorted(got) != sorted(expected):
        return [f"series differ: sloth {sorted(expected)} ours {sorted(got)}"]
    return [
        f"{key}: sloth {value!r} ours {got[key]!r}"
        for key, value in expected.items()
        if not math.isclose(got[key], value, rel_tol=1e-9, abs_tol=1e-12)
    ]


@pytest.mark.parametrize("panel", sorted(QUERIES))
def test_sloth_dashboard_query_returns_the_same_data(
    servers: tuple[PrometheusServer, PrometheusServer], panel: str
) -> None:
    sloth, ours = servers
    # Two independent servers: on a loaded machine one may be a round behind the other,
    # so a difference must persist for 30 s to count.
    for _ in range(30):
        problems = _compare(sloth, ours, QUERIES[panel])
        if not problems:
            return
        time.sleep(1)
    pytest.fail(f"{panel}: {'; '.join(problems)}")


def test_the_comparison_is_not_vacuous(servers: tuple[PrometheusServer, PrometheusServer]) -> None:
    sloth, _ = servers
    burn = _series(sloth.query(QUERIES["current burning budget"])["result"])
    assert [round(v, 6) for v in burn.values()] == [round(13 / 613 / 0.001, 6)]
    assert _series(sloth.query(QUERIES["critical alert"])["result"]) == {(): 1.0}
    for panel in ("remaining budget (month, 10s:1s)", "SLI 30d", "exceeded burning rate"):
        assert sloth.query(QUERIES[panel])["result"], panel
